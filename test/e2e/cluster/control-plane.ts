/**
 * A real control plane on loopback: etcd and kube-apiserver built from the module proxy, with RBAC and Node
 * authorization, client-certificate authentication and service-account token signing (so the TokenRequest and
 * TokenReview APIs work as in any cluster). No controller-manager or scheduler: tests create the objects those
 * would (service accounts) and bind pods with spec.nodeName.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { BINARIES } from './components.js';
import { createPki, writeKubeconfig, type Pki } from './pki.js';
import { freePort, progress, startDaemon, waitReady, type Daemon } from './processes.js';

export const NODE_NAME = 'keymount-e2e-node';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ControlPlane {
  readonly runDir: string;
  readonly logDir: string;
  readonly pki: Pki;
  readonly server: string;
  /** kubeconfig of a system:masters client. */
  readonly adminKubeconfig: string;
  /** kubeconfig of the node's kubelet (system:node:<node>). */
  readonly kubeletKubeconfig: string;
  readonly daemons: readonly Daemon[];
  /** Runs kubectl as admin; resolves with stdout, rejects with stderr in the message. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
  /** GET on the apiserver as admin, parsed as JSON. */
  get(path: string): Promise<unknown>;
  stop(): Promise<void>;
}

export interface KubectlOptions {
  readonly kubeconfig: string;
  readonly timeoutMs?: number;
}

/** kubectl as a child process (asynchronous, so a gRPC server in this process keeps answering meanwhile). */
export function runKubectl(args: readonly string[], options: KubectlOptions, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      BINARIES.kubectl,
      ['--kubeconfig', options.kubeconfig, ...args],
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

function httpsGet(url: string, pki: Pki): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca: readFileSync(pki.ca.cert), cert: readFileSync(pki.admin.cert), key: readFileSync(pki.admin.key), timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function startControlPlane(runDir: string): Promise<ControlPlane> {
  const logDir = join(runDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const pki = createPki(join(runDir, 'pki'), NODE_NAME);
  const daemons: Daemon[] = [];
  const stop = async (): Promise<void> => {
    for (const daemon of [...daemons].reverse()) await daemon.stop();
  };
  try {
    const [etcdClient, etcdPeer, apiserverPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = startDaemon({
      name: 'etcd',
      command: BINARIES.etcd,
      logDir,
      args: [
        '--name=e2e',
        `--data-dir=${join(runDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
        // A throw-away store: durability buys nothing here and fsync costs seconds on a busy disk.
        '--unsafe-no-fsync',
      ],
    });
    daemons.push(etcd);
    await waitReady(etcd, async () => {
      const response = await fetch(`${etcdUrl}/health`);
      return response.ok && ((await response.json()) as { health?: string }).health === 'true';
    }, 60_000);

    const server = `https://127.0.0.1:${apiserverPort}`;
    const apiserver = startDaemon({
      name: 'kube-apiserver',
      command: BINARIES.kubeApiserver,
      logDir,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiserverPort}`,
        `--cert-dir=${join(runDir, 'apiserver')}`,
        `--tls-cert-file=${pki.apiserver.cert}`,
        `--tls-private-key-file=${pki.apiserver.key}`,
        `--client-ca-file=${pki.ca.cert}`,
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        '--authorization-mode=Node,RBAC',
        // keymount's DaemonSet is privileged (it mounts tmpfs for the kubelet), as every CSI node plugin.
        '--allow-privileged=true',
        '--service-cluster-ip-range=10.96.0.0/16',
        // The "kubernetes" service would point at 127.0.0.1, which Endpoints refuse; nothing here needs it.
        '--endpoint-reconciler-type=none',
        `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
        `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
        '--kubelet-preferred-address-types=InternalIP',
        '--profiling=false',
        '--v=1',
      ],
    });
    daemons.push(apiserver);
    await waitReady(apiserver, async () => (await httpsGet(`${server}/readyz`, pki)).status === 200, 120_000);
    progress(`control plane ready at ${server}`);

    const adminKubeconfig = writeKubeconfig(join(runDir, 'admin.kubeconfig'), server, pki.ca.cert, pki.admin, 'admin');
    const kubeletKubeconfig = writeKubeconfig(join(runDir, 'kubelet.kubeconfig'), server, pki.ca.cert, pki.kubeletClient, `system:node:${NODE_NAME}`);
    return {
      runDir,
      logDir,
      pki,
      server,
      adminKubeconfig,
      kubeletKubeconfig,
      daemons,
      kubectl: (args, input) => runKubectl(args, { kubeconfig: adminKubeconfig }, input),
      async get(path) {
        const { status, body } = await httpsGet(`${server}${path}`, pki);
        if (status !== 200) throw new Error(`GET ${path}: HTTP ${status}: ${body}`);
        return JSON.parse(body) as unknown;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
