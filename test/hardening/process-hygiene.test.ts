/**
 * Class 7 (hygiene) of the tenant-isolation issue, for the driver process:
 * core dumps are off (a dump would carry tokens, passwords and keys to the
 * node's disk), and /healthz and /readyz are served on loopback unless the
 * admin names an interface, and stay cheap under a flood (a pod that floods
 * them must not make the driver dial its CSI socket per request).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildConfig } from '../../src/config/config.js';
import { PROBE_RESULT_TTL_MS } from '../../src/health/health-checks.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { startHarness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, join, mountsUnder, visibleFiles } from '../helpers/system.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** "Max core file size" of a process as the kernel reports it: [soft, hard]. */
function coreLimits(pid: number): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((text) => text.startsWith('Max core file size'));
  const [soft = '', hard = ''] = (line ?? '').slice('Max core file size'.length).trim().split(/\s+/);
  return [soft, hard];
}

describe('core dumps', () => {
  it('are off in `keymount serve`: RLIMIT_CORE 0, soft and hard, even when started with them unlimited', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymount-core-'));
    cleanups.push(() => {
      rmSync(root, { recursive: true, force: true });
    });
    // prlimit execs node in its own place: the pid is the driver's.
    const server = spawn(
      'prlimit',
      [
        '--core=unlimited:unlimited',
        '--',
        'node',
        join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'),
        'serve',
        '--endpoint',
        `unix://${join(root, 'csi.sock')}`,
        '--state-dir',
        join(root, 'state'),
        '--node-id',
        'n',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    cleanups.push(() => {
      server.kill('SIGKILL');
    });
    await vi.waitFor(
      () => {
        if (!output.includes('keymount is serving')) throw new Error(`not serving yet:\n${output}`);
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(coreLimits(server.pid ?? 0)).toEqual(['0', '0']);
    expect(output).not.toContain('could not turn core dumps off');
    // The test's own process is not what made it 0.
    expect(execFileSync('prlimit', ['--core=unlimited:unlimited', '--', 'sh', '-c', 'ulimit -c'], { encoding: 'utf8' }).trim()).toBe('unlimited');
  });
});

describe('--health-addr', () => {
  it('":PORT" serves on 127.0.0.1 only; every interface needs 0.0.0.0 or [::] written out', () => {
    const health = (value: string): unknown => buildConfig({ 'node-id': 'n', 'health-addr': value }, {}, false).healthAddress;
    expect(health(':9810')).toEqual({ host: '127.0.0.1', port: 9810 });
    expect(health('0.0.0.0:9810')).toEqual({ host: '0.0.0.0', port: 9810 });
    expect(health('[::]:9810')).toEqual({ host: '::', port: 9810 });
    // What the chart writes: the pod IP in brackets, IPv4 or IPv6.
    expect(health('[10.1.2.3]:9810')).toEqual({ host: '10.1.2.3', port: 9810 });
    expect(health('[fd00::7]:9810')).toEqual({ host: 'fd00::7', port: 9810 });
    // Metrics keep the Kubernetes meaning of ":PORT" (Prometheus scrapes the pod IP).
    expect(buildConfig({ 'node-id': 'n', 'metrics-addr': ':9811' }, {}, false).metricsAddress).toEqual({ host: '', port: 9811 });
  });

  it('with ":0" answers on loopback and refuses connections on the node\'s other addresses', async () => {
    const harness = await startHarness({ flags: { 'health-addr': ':0', 'log-level': 'info' } });
    cleanups.push(() => harness.stop());
    const healthz = new URL(harness.driver.httpUrls['/healthz'] ?? '');
    expect(healthz.hostname).toBe('127.0.0.1');
    expect((await fetch(healthz)).status).toBe(200);
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && !address.internal && address.family === 'IPv4')?.address;
    if (outside === undefined) return; // a machine with loopback only has nothing else to check
    const reached = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: outside, port: Number(healthz.port) });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    expect(reached, `/healthz answered on ${outside}`).toBe(false);
  });
});

/** GET with a bounded socket pool, as many concurrent clients would; resolves with the status. */
function get(url: URL, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = httpRequest(url, { agent }, (response) => {
      response.resume();
      response.once('end', () => {
        resolve(response.statusCode ?? 0);
      });
    });
    call.once('error', reject);
    call.end();
  });
}

describe.skipIf(!IS_ROOT)(`/healthz under a flood (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  it('dials the CSI socket about once a second, not once per request, and a publish during the flood succeeds', async () => {
    const harness = await startHarness({
      flags: { 'health-addr': '127.0.0.1:0', 'log-level': 'info' },
      providers: { 'local-ca': { type: 'local-ca', settings: {} } },
    });
    cleanups.push(() => harness.stop());
    const healthz = new URL(harness.driver.httpUrls['/healthz'] ?? '');
    // Every Probe the driver answers is one log line: the dials its health check made.
    const probes = (): number => harness.logLines.filter((line) => line.includes('"method":"Probe"')).length;
    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    cleanups.push(() => {
      agent.destroy();
    });

    const before = probes();
    const started = performance.now();
    const flood = Array.from({ length: 4000 }, () => get(healthz, agent));
    const volume = harness.newVolume();
    // Settled at once, so its failure is reported by the assertion below rather than as an unhandled rejection.
    const publishing = harness.publish(volume, { provider: 'local-ca' }).then(
      () => 'published',
      (error: unknown) => String(error),
    );
    const statuses = await Promise.all(flood);
    expect(await publishing).toBe('published');
    const elapsedMs = performance.now() - started;

    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    // One Probe per result lifetime (plus the one in flight when the flood ends), whatever the request count.
    const allowed = Math.ceil(elapsedMs / PROBE_RESULT_TTL_MS) + 1;
    expect(probes() - before).toBeLessThanOrEqual(allowed);
    expect(allowed).toBeLessThan(statuses.length / 10);
    expect(visibleFiles(volume.targetPath)).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    await harness.unpublish(volume);
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
  }, 120_000);

  it('notices a CSI socket that stopped answering within the result lifetime', async () => {
    const harness = await startHarness({ flags: { 'health-addr': '127.0.0.1:0' } });
    cleanups.push(() => harness.stop());
    const healthz = harness.driver.httpUrls['/healthz'] ?? '';
    expect((await fetch(healthz)).status).toBe(200);
    rmSync(harness.socketPath);
    // Within the cached result's lifetime plus one probe's deadline.
    await vi.waitFor(
      async () => {
        expect((await fetch(healthz)).status).toBe(503);
      },
      { timeout: 15_000, interval: 100 },
    );
  });
});
