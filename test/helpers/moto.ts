/**
 * moto in server mode: a real AWS emulator (Secrets Manager, SSM, STS) on a
 * loopback port, installed pinned from PyPI into .peers/py on first use.
 * Each test file starts its own server and stops it in afterAll.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { freePort, stopProcess } from './processes.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ensurePythonPackages } from './peers.js';

export const MOTO_REQUIREMENT = 'moto[server]==5.2.5';
const MOTO_MARKER = 'moto-5.2.5.installed';
const START_TIMEOUT_MS = 60_000;
/** For the beforeAll that starts moto: the first run on a machine installs it (pip), or waits for another file doing so. */
export const MOTO_START_TIMEOUT_MS = 16 * 60_000;
const runFile = promisify(execFile);

const CREATE_ROLE_SCRIPT = `
import sys, boto3
endpoint, name, policy = sys.argv[1:4]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"*"},"Action":"sts:AssumeRoleWithWebIdentity"}]}'
iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
iam.put_role_policy(RoleName=name, PolicyName="keymount-test", PolicyDocument=policy)
`;

/** Static dummy credentials: moto accepts any signature unless its IAM enforcement is switched on. */
export const MOTO_CREDENTIALS = { accessKeyId: 'AKIAKEYMOUNTTEST', secretAccessKey: 'keymount-test-secret' } as const;

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  /** Forgets every secret, parameter and role (POST /moto-api/reset). */
  reset(): Promise<void>;
  /**
   * Switches moto's IAM enforcement on after `unauthenticatedActions` more
   * calls (POST /moto-api/reset-auth); a large number switches it off again.
   */
  enforceIamAfter(unauthenticatedActions: number): Promise<void>;
  /** Starts moto's request recorder (/moto-api/recorder) afresh: every later AWS call is kept, with its target and body. */
  startRecording(): Promise<void>;
  /** The calls recorded since startRecording(): the X-Amz-Target action ("secretsmanager.GetSecretValue") and the JSON body. */
  recordedCalls(): Promise<RecordedCall[]>;
  /** Creates an IAM role with one inline policy (what moto checks once IAM enforcement is on); returns its ARN. */
  createRole(name: string, policy: unknown): Promise<string>;
  /** Secrets Manager and SSM clients with the dummy credentials, for seeding. */
  secretsManager(region?: string): SecretsManagerClient;
  ssm(region?: string): SSMClient;
  stop(): Promise<void>;
}

export interface RecordedCall {
  readonly action: string;
  readonly body: Record<string, unknown>;
}

/** Installs moto (once) and returns the moto_server executable. */
export function ensureMotoServer(): string {
  const venv = ensurePythonPackages([MOTO_REQUIREMENT], MOTO_MARKER);
  return join(venv, 'bin', 'moto_server');
}

export async function startMoto(): Promise<MotoServer> {
  const executable = ensureMotoServer();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // The recorder appends to this file (by default "moto_recording" in the current directory).
  const recordingDir = mkdtempSync(join(tmpdir(), 'keymount-moto-'));
  const child = spawn(executable, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_RECORDER_FILEPATH: join(recordingDir, 'recording.jsonl') },
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    // Keep the tail only: moto logs one line per request.
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  await waitUntilAnswering(endpoint, child, stderr);
  const clients: { destroy(): void }[] = [];
  const python = join(dirname(executable), 'python');
  const post = async (path: string, body?: string): Promise<void> => {
    const response = await fetch(`${endpoint}${path}`, { method: 'POST', ...(body === undefined ? {} : { body }) });
    if (!response.ok) throw new Error(`moto ${path} answered ${response.status}: ${await response.text()}`);
  };
  return {
    endpoint,
    port,
    reset: () => post('/moto-api/reset'),
    async startRecording() {
      await post('/moto-api/recorder/reset-recording');
      await post('/moto-api/recorder/start-recording');
    },
    async recordedCalls() {
      const response = await fetch(`${endpoint}/moto-api/recorder/download-recording`);
      const text = await response.text();
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => parseRecordedCall(JSON.parse(line) as RecorderEntry));
    },
    // moto reads the body as a bare number ("inf" switches enforcement off).
    enforceIamAfter: (count) => post('/moto-api/reset-auth', Number.isFinite(count) ? String(count) : 'inf'),
    async createRole(name, policy) {
      // boto3 comes with moto; it saves adding an IAM SDK client to keymount for one test.
      await runFile(python, ['-c', CREATE_ROLE_SCRIPT, endpoint, name, JSON.stringify(policy)], {
        env: { ...process.env, AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey },
      });
      return `arn:aws:iam::123456789012:role/${name}`;
    },
    secretsManager(region = 'us-east-1') {
      const client = new SecretsManagerClient({ region, endpoint, credentials: MOTO_CREDENTIALS });
      clients.push(client);
      return client;
    },
    ssm(region = 'us-east-1') {
      const client = new SSMClient({ region, endpoint, credentials: MOTO_CREDENTIALS });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.destroy();
      await stopProcess(child);
      rmSync(recordingDir, { recursive: true, force: true });
    },
  };
}

interface RecorderEntry {
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly body_encoded?: boolean;
}

function parseRecordedCall(entry: RecorderEntry): RecordedCall {
  const headers = Object.fromEntries(Object.entries(entry.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
  const raw = entry.body_encoded === true ? Buffer.from(entry.body ?? '', 'base64').toString('utf8') : (entry.body ?? '');
  let body: Record<string, unknown> = {};
  try {
    body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
  } catch {
    // Query-protocol services (STS) send form bodies: only the JSON ones matter here.
  }
  return { action: headers['x-amz-target'] ?? '', body };
}

async function waitUntilAnswering(endpoint: string, child: ChildProcess, stderr: readonly string[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr.join('')}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stopProcess(child);
  throw new Error(`moto_server did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms: ${stderr.join('')}`);
}
