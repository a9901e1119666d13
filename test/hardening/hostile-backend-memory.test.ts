/**
 * The driver as its own process (built dist/, default --max-volume-size)
 * against a backend that answers a secret read with 300 MB: its peak
 * resident memory (VmHWM) grows by a few MB at most over a baseline
 * measured in the same run, instead of the gigabyte it took to buffer the
 * answer whole.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CsiClient } from '../../src/csi/csi-client.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { startHostileBackend, type HostileBackend } from '../helpers/hostile-backend.js';
import { newPodVolume, publishRequest } from '../helpers/kubelet.js';
import { IS_ROOT, ROOT_REASON, join, mountsUnder } from '../helpers/system.js';

const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'driver-process.mjs');
/** Far below the 300 MB answer, above what the capped answer (about 5.6 MB at the default limit) costs to read and parse. */
const MAX_GROWTH_KIB = 128 * 1024;

function peakResidentKib(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmHWM:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN);
}

function podJwt(): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return [encode({ alg: 'RS256' }), encode({ sub: 'system:serviceaccount:shop:web', iat: now, exp: now + 3600 }), encode('signature')].join('.');
}

describe.skipIf(!IS_ROOT)(`a hostile backend and the driver's memory (${IS_ROOT ? 'real process, real tmpfs' : ROOT_REASON})`, () => {
  let root: string;
  let backend: HostileBackend;
  let driver: ChildProcess;
  let client: CsiClient;
  const jwt = podJwt();

  beforeAll(async () => {
    backend = await startHostileBackend();
    root = mkdtempSync(join(tmpdir(), 'keymount-memory-'));
    const socket = join(root, 'csi.sock');
    const configFile = join(root, 'keymount.yaml');
    writeFileSync(
      configFile,
      stringify({
        providers: {
          vault: { type: 'vault', address: backend.address, auth: { type: 'jwt', mountPath: 'jwt' } },
          aws: { type: 'aws', region: 'us-east-1', endpoint: backend.address },
        },
      }),
    );
    let output = '';
    driver = spawn(process.execPath, [FIXTURE, socket, join(root, 'state'), configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    driver.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    driver.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await vi.waitFor(
      () => {
        if (!output.includes('keymount is serving')) throw new Error(`driver not ready:\n${output}`);
      },
      { timeout: 15_000, interval: 50 },
    );
    client = new CsiClient(socket);
  });
  afterAll(async () => {
    client.close();
    driver.kill('SIGKILL');
    await backend.close();
    for (const mountPoint of mountsUnder(root).reverse()) execFileSync('umount', [mountPoint]);
    rmSync(root, { recursive: true, force: true });
  });

  const publish = (attributes: Record<string, string>) =>
    client
      .nodePublishVolume(publishRequest(newPodVolume(join(root, 'kubelet')), attributes, { tokens: { vault: jwt, 'sts.amazonaws.com': jwt } }))
      .catch((error: unknown) => error);

  it.each([
    ['vault', { provider: 'vault', roleName: 'app', objects: stringify([{ objectName: 'big', secretPath: 'secret/data/app', secretKey: 'big' }]) }],
    ['aws', { provider: 'aws', roleArn: 'arn:aws:iam::123456789012:role/shop-web', objects: stringify([{ objectName: 'db' }]) }],
  ])('%s: a 300 MB answer does not make the driver grow', async (_name, attributes) => {
    // Baseline: the same path with an answer that fails quickly (login, client set-up, error handling all warmed up).
    backend.reset({ mode: 'long-error' });
    await publish(attributes);
    const baseline = peakResidentKib(driver.pid ?? 0);
    backend.reset({ mode: 'huge' });
    const outcome = await publish(attributes);
    expect(outcome).toBeInstanceOf(Error);
    expect(peakResidentKib(driver.pid ?? 0) - baseline).toBeLessThan(MAX_GROWTH_KIB);
  }, 60_000);
});
