/**
 * The e2e cluster's certificates and keys, made with the openssl command line: one CA for every component,
 * serving certificates for 127.0.0.1, client certificates whose subject carries the Kubernetes user and groups,
 * and the service-account signing key pair. Everything lives in the run directory and dies with it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  readonly ca: KeyPair;
  /** The apiserver's serving certificate (127.0.0.1, localhost, the kubernetes service names). */
  readonly apiserver: KeyPair;
  /** The apiserver's client certificate towards the kubelet (group system:masters). */
  readonly apiserverKubeletClient: KeyPair;
  /** kubectl's identity in the tests: user admin, group system:masters. */
  readonly admin: KeyPair;
  /** The kubelet's identity towards the apiserver: system:node:<node>, group system:nodes. */
  readonly kubeletClient: KeyPair;
  /** The kubelet's serving certificate. */
  readonly kubeletServing: KeyPair;
  /** Service-account token signing key (private) and its public half. */
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

const DAYS = '2';

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', [...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

interface LeafSpec {
  readonly name: string;
  readonly commonName: string;
  readonly organizations?: readonly string[];
  readonly server?: { readonly dns: readonly string[]; readonly ips: readonly string[] };
}

function issueLeaf(dir: string, ca: KeyPair, spec: LeafSpec): KeyPair {
  const cert = join(dir, `${spec.name}.crt`);
  const key = join(dir, `${spec.name}.key`);
  const csr = join(dir, `${spec.name}.csr`);
  const ext = join(dir, `${spec.name}.ext`);
  const subject = [...(spec.organizations ?? []).map((o) => `/O=${o}`), `/CN=${spec.commonName}`].join('');
  const sans = spec.server ? [...spec.server.dns.map((d) => `DNS:${d}`), ...spec.server.ips.map((ip) => `IP:${ip}`)] : [];
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${spec.server ? 'serverAuth,clientAuth' : 'clientAuth'}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
    ].join('\n'),
  );
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', subject, '-out', csr], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', DAYS, '-extfile', ext, '-out', cert], dir);
  return { cert, key };
}

/** A self-signed ECDSA P-256 CA in dir/<name>.crt and dir/<name>.key. */
export function createCa(dir: string, name: string, commonName: string): KeyPair {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl(
    [
      'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca.key, '-out', ca.cert,
      '-days', DAYS, '-subj', `/CN=${commonName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return ca;
}

export function createPki(dir: string, nodeName: string): Pki {
  const ca = createCa(dir, 'ca', 'keymount-e2e-ca');
  const local = { dns: ['localhost'], ips: ['127.0.0.1'] };
  const apiserver = issueLeaf(dir, ca, {
    name: 'apiserver',
    commonName: 'kube-apiserver',
    server: { dns: [...local.dns, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'], ips: [...local.ips, '10.96.0.1'] },
  });
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', serviceAccountKey], dir);
  openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub], dir);
  return {
    dir,
    ca,
    apiserver,
    apiserverKubeletClient: issueLeaf(dir, ca, { name: 'apiserver-kubelet-client', commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'] }),
    admin: issueLeaf(dir, ca, { name: 'admin', commonName: 'keymount-e2e-admin', organizations: ['system:masters'] }),
    kubeletClient: issueLeaf(dir, ca, { name: 'kubelet-client', commonName: `system:node:${nodeName}`, organizations: ['system:nodes'] }),
    kubeletServing: issueLeaf(dir, ca, { name: 'kubelet-serving', commonName: nodeName, server: { dns: [...local.dns, nodeName], ips: local.ips } }),
    serviceAccountKey,
    serviceAccountPub,
  };
}

/** A kubeconfig file for one client identity against the apiserver. */
export function writeKubeconfig(file: string, server: string, caCert: string, client: KeyPair, user: string): string {
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: e2e',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${caCert}`,
      'users:',
      `- name: ${user}`,
      '  user:',
      `    client-certificate: ${client.cert}`,
      `    client-key: ${client.key}`,
      'contexts:',
      '- name: e2e',
      '  context:',
      '    cluster: e2e',
      `    user: ${user}`,
      'current-context: e2e',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}
