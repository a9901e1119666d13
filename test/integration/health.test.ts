/**
 * /healthz and /readyz as the kubelet's probes see them: readiness follows
 * the driver's phase (starting, serving, stopping) and agrees with the CSI
 * Probe and the keymount_ready metric; liveness fails when the CSI socket stops
 * answering. The "stopping" phase is tested with the graceful shutdown (shutdown.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildConfig, ConfigError, type Config } from '../../src/config/config.js';
import { CsiClient } from '../../src/csi/csi-client.js';
import { startDriver } from '../../src/driver.js';
import type { Provider, ProviderType } from '../../src/provider/contract.js';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { exists } from '../helpers/system.js';

async function get(url: string | undefined, init?: RequestInit): Promise<{ status: number; body: string }> {
  if (url === undefined) throw new Error('no such endpoint');
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text() };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

/** A provider type whose instances finish initialising only when the test says so. */
function slowStartingType(): { type: ProviderType; finish: () => void } {
  let finish!: () => void;
  const started = new Promise<void>((resolve) => (finish = resolve));
  const provider: Provider = { type: 'slow', attributeKeys: [], parseAttributes: () => ({}), fetch: () => Promise.reject(new Error('unused')) };
  return { type: { type: 'slow', create: async () => { await started; return provider; } }, finish };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('--health-addr', () => {
  it('is validated at start-up', () => {
    expect(() => buildConfig({ 'node-id': 'n', 'health-addr': '127.0.0.1' }, {}, false)).toThrow(ConfigError);
    expect(() => buildConfig({ 'node-id': 'n', 'health-addr': '999.1.1.1:80' }, {}, false)).toThrow('--health-addr "999.1.1.1:80" must be HOST:PORT');
    expect(buildConfig({ 'node-id': 'n' }, { KEYMOUNT_HEALTH_ADDR: '0.0.0.0:9810' }, false).healthAddress).toEqual({ host: '0.0.0.0', port: 9810 });
    // No interface named: loopback only (test/hardening/process-hygiene.test.ts has the rest).
    expect(buildConfig({ 'node-id': 'n' }, { KEYMOUNT_HEALTH_ADDR: ':9810' }, false).healthAddress).toEqual({ host: '127.0.0.1', port: 9810 });
    expect(() => buildConfig({ 'node-id': 'n', 'shutdown-timeout': 'soon' }, {}, false)).toThrow('--shutdown-timeout "soon" must be a duration');
  });
});

describe('/healthz and /readyz', () => {
  it('say "alive, not ready" while the provider instances initialise, then both OK; the CSI Probe and keymount_ready agree', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymount-health-'));
    const port = await freePort();
    const config: Config = buildConfig(
      {
        endpoint: `unix://${root}/csi.sock`,
        'state-dir': join(root, 'state'),
        'node-id': 'n',
        'log-level': 'silent',
        'health-addr': `127.0.0.1:${port}`,
        'metrics-addr': `127.0.0.1:${port}`,
        config: writeConfig(root, { slow: { type: 'slow' } }),
      },
      {},
      false,
    );
    const slow = slowStartingType();
    const starting = startDriver(config, { providerTypes: [slow.type] });
    cleanups.push(async () => {
      slow.finish();
      await (await starting).stop();
      rmSync(root, { recursive: true, force: true });
    });
    const base = `http://127.0.0.1:${port}`;
    await vi.waitFor(async () => {
      expect((await get(`${base}/readyz`)).status).toBe(503);
    });
    expect((await get(`${base}/readyz`)).body).toContain('starting');
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/metrics`)).body).toMatch(/^keymount_ready 0$/m);
    expect(exists(config.socketPath)).toBe(false);

    slow.finish();
    const driver = await starting;
    const client = new CsiClient(config.socketPath);
    cleanups.push(() => {
      client.close();
      return Promise.resolve();
    });
    expect(await get(`${base}/readyz`)).toEqual({ status: 200, body: expect.stringContaining('ready') as string });
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: expect.stringContaining('answered Probe (ready=true)') as string });
    expect((await client.probe()).ready?.value).toBe(true);
    expect((await get(`${base}/metrics`)).body).toMatch(/^keymount_ready 1$/m);
    // One address, one server: metrics and health share it when the flags say so.
    expect(driver.httpUrls).toEqual({ '/metrics': `${base}/metrics`, '/healthz': `${base}/healthz`, '/readyz': `${base}/readyz` });
  });

  describe('once serving', () => {
    let harness: Harness;
    const start = async (): Promise<void> => {
      harness = await startHarness({ flags: { 'health-addr': '127.0.0.1:0', 'shutdown-timeout': '5s' } });
      cleanups.push(() => harness.stop());
    };

    it('answer GET and HEAD only, on their own paths', async () => {
      await start();
      const healthz = harness.driver.httpUrls['/healthz'] ?? '';
      expect((await get(healthz, { method: 'HEAD' })).status).toBe(200);
      expect((await get(healthz, { method: 'POST' })).status).toBe(405);
      expect((await get(healthz.replace('/healthz', '/nope'))).status).toBe(404);
      expect(harness.driver.httpUrls['/metrics']).toBeUndefined();
    });

    it('/healthz fails, naming the socket, when the CSI socket stops answering; /readyz does not depend on it', async () => {
      await start();
      expect((await get(harness.driver.httpUrls['/healthz'])).status).toBe(200);
      // What a node clean-up script or a second driver could do under the running one.
      rmSync(harness.socketPath);
      // A Probe answer serves /healthz for up to a second (cheap under a flood): the failure shows once it expires.
      await vi.waitFor(async () => {
        const healthz = await get(harness.driver.httpUrls['/healthz']);
        expect(healthz.status).toBe(503);
        expect(healthz.body).toContain(`the CSI socket ${harness.socketPath} did not answer Probe`);
      }, { timeout: 10_000, interval: 100 });
      expect((await get(harness.driver.httpUrls['/readyz'])).status).toBe(200);
    });

    it('refuse to start when the port is taken, saying which paths and address', async () => {
      await start();
      const taken = new URL(harness.driver.httpUrls['/healthz'] ?? '').port;
      const error = await startHarness({ flags: { 'health-addr': `127.0.0.1:${taken}` } }).then(
        async (second) => {
          await second.stop();
          return undefined;
        },
        (failure: unknown) => failure as Error,
      );
      expect(error?.message).toContain(`cannot serve /healthz, /readyz on 127.0.0.1:${taken}`);
    });
  });
});

function writeConfig(root: string, providers: Record<string, { type: string }>): string {
  const file = join(root, 'keymount.yaml');
  // JSON is YAML.
  writeFileSync(file, JSON.stringify({ providers }));
  return file;
}
