/**
 * The vault-pki provider against a real OpenBao dev server with the PKI
 * engine (a root mount, and an intermediate mount signed by it): pods log in
 * with their own (test-signed) service-account JWT, Vault signs a CSR made on
 * the node, and the server's raw audit log shows what Vault was sent.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sensitive, isUnchanged, type Provider } from '../../../src/provider/contract.js';
import type { VaultPkiAttributes } from '../../../providers/vault/index.js';
import { createCsr, generateKeyPair, x509 } from '../../../providers/x509-common/index.js';
import { defaultVaultEnvironment, type VaultEnvironment } from '../../../providers/vault/connection.js';
import type { VaultCall } from '../../../providers/vault/client.js';
import {
  createJwtIssuer,
  createJwtRole,
  createPkiRole,
  enablePki,
  enableJwtAuth,
  startOpenBao,
  writePolicy,
  type JwtIssuer,
  type OpenBao,
} from '../../helpers/openbao.js';
import { FakeClock, openssl, withTempDir } from '../local-ca/helpers.js';
import { asResult, fetchRequest, pod, recordingEnvironment, rejection, type RequestOptions } from './helpers.js';
import {
  certificateVolume,
  createPkiProvider,
  csrsSentTo,
  keyMatches,
  opensslVerify,
  pemBodyLines,
  readAuditLog,
  type PkiTestProvider,
} from './pki-helpers.js';

let bao: OpenBao;
let issuer: JwtIssuer;
let auditDir: string;
let auditLog: string;
let rootPem: string;
let intermediatePem: string;
let webJwt: string;

/** What an admin's role for the shop namespace looks like: its names, SPIFFE IDs, any key type, at most 1h. */
const WEB_ROLE = {
  allowed_domains: ['shop.svc', 'shop.svc.cluster.local', 'example.com'],
  allow_subdomains: true,
  allow_bare_domains: true,
  allow_ip_sans: true,
  allowed_uri_sans: ['spiffe://cluster.local/ns/shop/*'],
  require_cn: false,
  key_type: 'any',
  max_ttl: '1h',
};

const settings = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  address: bao.address,
  auth: { type: 'jwt', mountPath: 'jwt' },
  pkiRole: 'web',
  // Some tests ask for 30-minute certificates, under the default minimum of 1h.
  minDuration: '10m',
  ...extra,
});

beforeAll(async () => {
  auditDir = mkdtempSync(join(tmpdir(), 'keymount-pki-audit-'));
  auditLog = join(auditDir, 'audit.log');
  bao = await startOpenBao({ auditLogFile: auditLog });
  issuer = createJwtIssuer();
  await enableJwtAuth(bao, issuer);
  rootPem = await enablePki(bao, 'pki');
  intermediatePem = await enablePki(bao, 'pki_int', 'pki');
  await createPkiRole(bao, 'web', WEB_ROLE);
  await createPkiRole(bao, 'web', WEB_ROLE, 'pki_int');
  await writePolicy(
    bao,
    'pki',
    ['pki/sign/web', 'pki_int/sign/web', 'pki/sign/nosuch'].map((path) => `path "${path}" { capabilities = ["update"] }`).join('\n'),
  );
  await createJwtRole(bao, { name: 'pki', namespace: 'shop', serviceAccount: 'web', policies: ['pki'] });
  await createJwtRole(bao, { name: 'no-pki', namespace: 'shop', serviceAccount: 'web', policies: ['default'] });
  webJwt = issuer.sign({ namespace: 'shop', serviceAccount: 'web' });
}, 180_000);

afterAll(async () => {
  await bao.stop();
  rmSync(auditDir, { recursive: true, force: true });
});

const SIGNAL = (): AbortSignal => AbortSignal.timeout(20_000);

function fetchWith(provider: Provider<VaultPkiAttributes>, attributes: Record<string, string>, options: RequestOptions = {}) {
  return provider.fetch(fetchRequest(provider, { roleName: 'pki', ...attributes }, { jwt: webJwt, ...options }), SIGNAL());
}

const fingerprints = (certificates: readonly X509Certificate[]): string[] => certificates.map((certificate) => certificate.fingerprint256);

describe('issuance', () => {
  let instance: PkiTestProvider;
  beforeAll(async () => {
    instance = await createPkiProvider(settings());
  });

  it('has Vault sign a CSR made on the node: the audit log holds that CSR and never the key', async () => {
    const outcome = asResult(
      await fetchWith(instance.provider, {
        'common-name': 'web.shop.svc',
        'dns-names': 'web.shop.svc,web.${POD_NAMESPACE}.svc.cluster.local',
        'ip-sans': '10.0.0.7',
        'uri-sans': 'spiffe://cluster.local/ns/${POD_NAMESPACE}/sa/${SERVICE_ACCOUNT_NAME}',
        'email-sans': 'ops@example.com',
        duration: '30m',
      }),
    );
    const { files, leaf, chain, cas } = certificateVolume(outcome);
    expect(Object.keys(files).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(keyMatches(leaf, files['tls.key'] ?? '')).toBe(true);
    expect(leaf.subject).toBe('CN=web.shop.svc');
    for (const name of ['DNS:web.shop.svc', 'DNS:web.shop.svc.cluster.local', 'IP Address:10.0.0.7', 'URI:spiffe://cluster.local/ns/shop/sa/web', 'email:ops@example.com']) {
      expect(leaf.subjectAltName).toContain(name);
    }
    // Issued by the root mount: no intermediate in tls.crt, the root in ca.crt.
    expect(chain).toHaveLength(1);
    expect(fingerprints(cas)).toEqual(fingerprints([new X509Certificate(rootPem)]));
    expect(await opensslVerify(files['ca.crt'] ?? '', files['tls.crt'] ?? '')).toContain('OK');
    expect(outcome.versions).toEqual({ certificate: leaf.serialNumber });
    expect(outcome.notAfter?.getTime()).toBe(new Date(leaf.validTo).getTime());

    // What reached Vault: the CSR for this very key, and no byte of the key.
    const csrs = csrsSentTo(auditLog, 'pki/sign/web');
    const sent = csrs.map((pem) => Buffer.from(new x509.Pkcs10CertificateRequest(pem).publicKey.rawData));
    expect(sent.some((spki) => spki.equals(leaf.publicKey.export({ type: 'spki', format: 'der' })))).toBe(true);
    const keyPem = files['tls.key'] ?? '';
    const keyDer = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
    const { text } = readAuditLog(auditLog);
    expect(text).toContain('pki/sign/web');
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(keyDer.toString('base64'));
    expect(text).not.toContain(keyDer.toString('hex'));
    for (const line of pemBodyLines(keyPem)) expect(text).not.toContain(line);
    // Nor in the provider's log, which says what was issued.
    const logged = JSON.stringify(instance.logs);
    expect(logged).toContain(leaf.serialNumber);
    for (const line of pemBodyLines(keyPem)) expect(logged).not.toContain(line);
  });

  it('puts the intermediate into tls.crt and the chain Vault returns (intermediate and root) into ca.crt', async () => {
    const { provider } = await createPkiProvider(settings({ pkiMount: 'pki_int' }));
    const { files, chain, cas, leaf } = certificateVolume(await fetchWith(provider, { 'dns-names': 'api.shop.svc' }));
    expect(fingerprints(chain)).toEqual(fingerprints([leaf, new X509Certificate(intermediatePem)]));
    expect(fingerprints(cas)).toEqual(fingerprints([new X509Certificate(intermediatePem), new X509Certificate(rootPem)]));
    expect(await opensslVerify(files['ca.crt'] ?? '', files['tls.crt'] ?? '')).toContain('OK');
    // A client that trusts only the root verifies the leaf with the intermediate from tls.crt.
    const verified = await withTempDir(async (dir) => {
      await writeFile(join(dir, 'root.crt'), rootPem);
      await writeFile(join(dir, 'tls.crt'), files['tls.crt'] ?? '');
      return openssl(['verify', '-CAfile', 'root.crt', '-untrusted', 'tls.crt', 'tls.crt'], dir);
    });
    expect(verified).toContain('OK');
    // No common name asked for: an empty subject.
    expect(leaf.subject).toBeUndefined();
    expect(leaf.subjectAltName).toBe('DNS:api.shop.svc');
  });

  it('gives a pod that asks for no name its SPIFFE ID when the instance has a trustDomain', async () => {
    const { provider } = await createPkiProvider(settings({ trustDomain: 'cluster.local' }));
    const { leaf } = certificateVolume(await fetchWith(provider, {}));
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/web');
  });

  it.each([
    ['RSA', { 'key-algorithm': 'RSA', 'key-size': '3072', 'key-encoding': 'PKCS1' }, 'RSA PRIVATE KEY', 'rsa'],
    ['ECDSA P-384', { 'key-algorithm': 'ECDSA', 'key-size': '384' }, 'PRIVATE KEY', 'ec'],
    ['Ed25519', { 'key-algorithm': 'Ed25519' }, 'PRIVATE KEY', 'ed25519'],
  ])('signs a CSR for a %s key generated on the node', async (_name, keyAttributes, pemLabel, keyType) => {
    const { files, leaf } = certificateVolume(await fetchWith(instance.provider, { 'dns-names': 'keys.shop.svc', ...keyAttributes }));
    expect(files['tls.key']).toContain(`-----BEGIN ${pemLabel}-----`);
    expect(keyMatches(leaf, files['tls.key'] ?? '')).toBe(true);
    expect(leaf.publicKey.asymmetricKeyType).toBe(keyType);
  });

  it('writes the chain into a PKCS#12 keystore protected by the nodePublishSecretRef password', async () => {
    const request = fetchRequest(instance.provider, { roleName: 'pki', 'dns-names': 'p12.shop.svc', 'pkcs12-enable': 'true' }, { jwt: webJwt });
    const outcome = asResult(await instance.provider.fetch({ ...request, secrets: new Sensitive({ 'pkcs12-password': 'changeit' }) }, SIGNAL()));
    const keystore = outcome.files.find((file) => file.path === 'keystore.p12')?.contents;
    expect(keystore).toBeDefined();
    const listing = await withTempDir(async (dir) => {
      await writeFile(join(dir, 'keystore.p12'), keystore ?? Buffer.alloc(0));
      return openssl(['pkcs12', '-in', 'keystore.p12', '-passin', 'pass:changeit', '-nokeys'], dir);
    });
    expect(listing).toContain('subject=');
    expect(listing).toContain('keymount test root pki');
  });

  it('keeps the lifetime Vault grants: a duration over the role\'s max_ttl is capped, and renewal follows the real notAfter', async () => {
    const before = Date.now();
    const outcome = asResult(await fetchWith(instance.provider, { 'dns-names': 'long.shop.svc', duration: '2h', 'renew-before': '10m' }));
    const notAfter = outcome.notAfter?.getTime() ?? 0;
    expect(notAfter).toBeGreaterThan(before + 3_600_000 - 60_000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1_000);
    expect(outcome.refreshAt?.getTime()).toBe(notAfter - 600_000);
    expect(instance.logs.some((line) => line.message === 'vault-pki: warning from Vault' && String(line.fields.warning).includes('maxTTL'))).toBe(true);
    // Vault caps rather than refuses, so the admin hears of it at warn level: the attribute, and the role setting.
    const capped = instance.logs.filter((line) => line.level === 'warn' && line.message.includes('max_ttl') && line.fields.duration === '2h');
    expect(capped).toHaveLength(1);
    expect(capped[0]?.message).toContain('"duration"');
    expect(capped[0]?.fields).toMatchObject({ pkiRole: 'web', namespace: 'shop' });
  });
});

describe('renewal and release', () => {
  it('answers UNCHANGED to a republish before renewal is due, and issues anew once due or when the driver holds another certificate', async () => {
    const clock = new FakeClock(new Date());
    const { provider } = await createPkiProvider(settings(), { clock });
    const volume = { volumeId: 'csi-renewal', pod: pod() };
    const attributes = { 'dns-names': 'renew.shop.svc', duration: '30m' };
    const first = asResult(await fetchWith(provider, attributes, volume));
    const again = await fetchWith(provider, attributes, { ...volume, previousVersions: first.versions });
    expect(isUnchanged(again)).toBe(true);
    expect(again.refreshAt).toEqual(first.refreshAt);
    // The driver lost the last write: it holds an older certificate, so a new one is issued.
    const other = asResult(await fetchWith(provider, attributes, { ...volume, previousVersions: { certificate: 'ABCDEF' } }));
    expect(other.versions.certificate).not.toBe(first.versions.certificate);
    clock.advance((other.refreshAt?.getTime() ?? 0) - clock.now().getTime());
    const renewed = asResult(await fetchWith(provider, attributes, { ...volume, previousVersions: other.versions }));
    expect(renewed.versions.certificate).not.toBe(other.versions.certificate);
  });

  it('defers a renewal past maxIssuancesPerMinute without asking Vault, and refuses a new volume with RESOURCE_EXHAUSTED', async () => {
    const clock = new FakeClock(new Date());
    const recording = recordingEnvironment();
    const { provider } = await createPkiProvider(settings({ maxIssuancesPerMinute: 1 }), { clock, env: recording.env });
    const volume = { volumeId: 'csi-rate', pod: pod() };
    const attributes = { 'dns-names': 'rate.shop.svc', duration: '1h', 'renew-before': '59m59s' };
    const first = asResult(await fetchWith(provider, attributes, volume));
    const signs = (): number => recording.calls.filter((call) => call === 'POST pki/sign/web').length;
    expect(signs()).toBe(1);
    clock.advance(1_000);
    const deferred = await fetchWith(provider, attributes, { ...volume, previousVersions: first.versions });
    expect(deferred).toEqual({ unchanged: true, refreshAt: new Date(clock.now().getTime() + 59_000) });
    expect(signs()).toBe(1);
    await expect(fetchWith(provider, attributes, volume)).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringContaining('vault-pki instance "') as unknown,
    });
    clock.advance(59_000);
    const renewed = asResult(await fetchWith(provider, attributes, { ...volume, previousVersions: first.versions }));
    expect(renewed.versions.certificate).not.toBe(first.versions.certificate);
  });

  it('keeps the key across renewals with reuse-private-key; release forgets it and revokes the pod\'s Vault token', async () => {
    const recording = recordingEnvironment();
    const { provider } = await createPkiProvider(settings(), { env: recording.env });
    const volume = { volumeId: 'csi-reuse', pod: pod() };
    const attributes = { 'dns-names': 'reuse.shop.svc', 'reuse-private-key': 'true' };
    const first = asResult(await fetchWith(provider, attributes, volume));
    const second = asResult(await fetchWith(provider, attributes, volume));
    const keyOf = (outcome: typeof first) => outcome.files.find((file) => file.path === 'tls.key')?.contents.toString();
    expect(second.versions.certificate).not.toBe(first.versions.certificate);
    expect(keyOf(second)).toBe(keyOf(first));
    expect(recording.calls.filter((call) => call === 'POST auth/jwt/login')).toHaveLength(1);
    await provider.release?.(volume.volumeId, SIGNAL());
    expect(recording.calls.filter((call) => call === 'POST auth/token/revoke-self')).toHaveLength(1);
    const afterRelease = asResult(await fetchWith(provider, attributes, volume));
    expect(keyOf(afterRelease)).not.toBe(keyOf(first));
    // A released volume has nothing left to answer UNCHANGED from.
    await provider.release?.(volume.volumeId, SIGNAL());
    expect(isUnchanged(await fetchWith(provider, attributes, { ...volume, previousVersions: afterRelease.versions }))).toBe(false);
  });
});

describe('refusals', () => {
  let instance: PkiTestProvider;
  beforeAll(async () => {
    instance = await createPkiProvider(settings());
  });

  it('a name outside the PKI role: FAILED_PRECONDITION with Vault\'s reason and the fix, after a single login', async () => {
    const recording = recordingEnvironment();
    const { provider } = await createPkiProvider(settings(), { env: recording.env });
    const error = await rejection(fetchWith(provider, { 'dns-names': 'web.shop.svc,evil.example.org' }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('pki/sign/web');
    expect(error.message).toContain('evil.example.org not allowed by this role');
    expect(error.message).toContain('allowed_domains');
    // A mismatch is not a refused token: no second login, no second sign request.
    expect(recording.calls.filter((call) => call === 'POST auth/jwt/login')).toHaveLength(1);
    expect(recording.calls.filter((call) => call === 'POST pki/sign/web')).toHaveLength(1);
    const uri = await rejection(fetchWith(provider, { 'uri-sans': 'spiffe://cluster.local/ns/bank/sa/teller' }));
    expect(uri.code).toBe('FAILED_PRECONDITION');
    expect(uri.message).toContain('URI Subject Alternative Names were provided via CSR which are not valid for this role');
    expect(uri.message).toContain('allowed_uri_sans');
  });

  it('a PKI role the mount does not have: FAILED_PRECONDITION naming it and the instance\'s pkiRole', async () => {
    const { provider } = await createPkiProvider(settings({ pkiRole: 'nosuch' }));
    const error = await rejection(fetchWith(provider, { 'dns-names': 'web.shop.svc' }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('unknown role: nosuch');
    expect(error.message).toContain('pkiRole');
  });

  it('a Vault role the pod\'s service account is not bound to: PERMISSION_DENIED from the login', async () => {
    const intruder = issuer.sign({ namespace: 'shop', serviceAccount: 'intruder' });
    const error = await rejection(fetchWith(instance.provider, { 'dns-names': 'web.shop.svc' }, { jwt: intruder }));
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('role "pki"');
    expect(error.message).not.toContain(intruder);
  });

  it('a Vault role whose policy does not allow signing: PERMISSION_DENIED saying which capability is missing', async () => {
    const error = await rejection(fetchWith(instance.provider, { roleName: 'no-pki', 'dns-names': 'web.shop.svc' }));
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toContain('permission denied');
    expect(error.message).toContain('must grant "update" on "pki/sign/web"');
  });

  it('no token for the audience: FAILED_PRECONDITION before a key is made or Vault is asked', async () => {
    const error = await rejection(fetchWith(instance.provider, { 'dns-names': 'web.shop.svc' }, { audience: 'other' }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('tokenRequests');
  });

  it('a sealed server: UNAVAILABLE saying so, after retrying within the deadline', async () => {
    // Log in first (same pod, so the token is cached): the sign call itself meets the sealed server.
    const samePod = { pod: pod() };
    asResult(await fetchWith(instance.provider, { 'dns-names': 'web.shop.svc' }, samePod));
    await bao.seal();
    try {
      const started = Date.now();
      const error = await rejection(fetchWith(instance.provider, { 'dns-names': 'web.shop.svc' }, samePod));
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.message).toContain('pki/sign/web');
      expect(error.message).toContain('sealed');
      // Retried with backoff (250 ms, 1 s) rather than failing on the first answer.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_200);
    } finally {
      await bao.unseal();
    }
  });
});

/** The real client, with a hook that may change a sign request or its answer: what a broken server or proxy would do. */
function tamperingEnvironment(tamper: { request?: (call: VaultCall) => Promise<VaultCall>; answer?: (answer: Record<string, unknown>) => unknown }): VaultEnvironment {
  return {
    ...defaultVaultEnvironment,
    clientFactory: (options) => {
      const transport = defaultVaultEnvironment.clientFactory(options);
      return {
        async send(call, signal) {
          if (!call.path.includes('/sign/')) return transport.send(call, signal);
          const answer = await transport.send((await tamper.request?.(call)) ?? call, signal);
          return tamper.answer?.(answer as Record<string, unknown>) ?? answer;
        },
      };
    },
  };
}

describe('what Vault returns is checked before anything is written', () => {
  it('a certificate for another key than the CSR\'s: FAILED_PRECONDITION', async () => {
    const swapCsr = async (call: VaultCall): Promise<VaultCall> => {
      const other = await generateKeyPair({ algorithm: 'ECDSA', curve: 'P-256' });
      const names = { commonName: undefined, dnsNames: ['web.shop.svc'], ipAddresses: [], uris: [], emailAddresses: [] };
      const csr = await createCsr({ ...names, subject: [], isCA: false, keyUsages: { basic: [], extended: [] } }, other);
      return { ...call, body: { ...call.body, csr: csr.pem } };
    };
    const { provider } = await createPkiProvider(settings(), { env: tamperingEnvironment({ request: swapCsr }) });
    const error = await rejection(fetchWith(provider, { 'dns-names': 'web.shop.svc' }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('another key');
  });

  it('a CA chain that did not sign the certificate: FAILED_PRECONDITION', async () => {
    const foreignChain = (answer: Record<string, unknown>) => ({ ...answer, data: { ...(answer.data as object), ca_chain: [intermediatePem] } });
    const { provider } = await createPkiProvider(settings(), { env: tamperingEnvironment({ answer: foreignChain }) });
    const error = await rejection(fetchWith(provider, { 'dns-names': 'web.shop.svc' }));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('did not sign the certificate');
  });

  it('an answer without a certificate: UNAVAILABLE', async () => {
    const noCertificate = (answer: Record<string, unknown>) => ({ ...answer, data: { ...(answer.data as object), certificate: 'garbage' } });
    const { provider } = await createPkiProvider(settings(), { env: tamperingEnvironment({ answer: noCertificate }) });
    const error = await rejection(fetchWith(provider, { 'dns-names': 'web.shop.svc' }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('without a readable certificate');
  });

  it('warns when the PKI role has generate_lease, which ties each certificate to the pod\'s Vault token', async () => {
    await createPkiRole(bao, 'leased', { ...WEB_ROLE, generate_lease: true });
    await writePolicy(bao, 'pki-leased', 'path "pki/sign/leased" { capabilities = ["update"] }');
    await createJwtRole(bao, { name: 'leased', namespace: 'shop', serviceAccount: 'web', policies: ['pki-leased'] });
    const { provider, logs } = await createPkiProvider(settings({ pkiRole: 'leased' }));
    asResult(await fetchWith(provider, { roleName: 'leased', 'dns-names': 'web.shop.svc' }));
    expect(logs.some((line) => line.level === 'warn' && line.message.includes('generate_lease'))).toBe(true);
  });
});
