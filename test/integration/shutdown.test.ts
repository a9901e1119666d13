/**
 * Graceful shutdown, as a rollout or a node drain does it: SIGTERM stops new
 * calls, lets in-flight ones finish within --shutdown-timeout, removes the
 * socket, and leaves every mounted volume in place for the next driver pod.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CsiClient } from '../../src/csi/csi-client.js';
import { startDriver } from '../../src/driver.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { newPodVolume, publishRequest } from '../helpers/kubelet.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, mountsUnder, visibleFiles } from '../helpers/system.js';
import { gatedProviderType } from '../helpers/test-providers.js';

const UNAVAILABLE = 14;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatedHarness(shutdownTimeout: string): Promise<{ harness: Harness; gated: ReturnType<typeof gatedProviderType> }> {
  const gated = gatedProviderType();
  const harness = await startHarness({
    flags: { 'health-addr': '127.0.0.1:0', 'shutdown-timeout': shutdownTimeout, 'log-level': 'info' },
    providers: { gated: { type: 'gated', settings: {} } },
    providerTypes: [gated.type],
  });
  cleanups.push(() => harness.stop());
  return { harness, gated };
}

function csiClient(socketPath: string): CsiClient {
  const client = new CsiClient(socketPath, 5_000);
  cleanups.push(() => {
    client.close();
  });
  return client;
}

describe.skipIf(!IS_ROOT)(`graceful shutdown (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  it('finishes the call in flight, refuses new ones, says "stopping" on /readyz, and leaves the volume mounted for the next driver', async () => {
    const { harness, gated } = await gatedHarness('10s');
    const gate = gated.gate();
    const volume = harness.newVolume();
    const publishing = harness.publish(volume, { provider: 'gated' });
    await gate.entered;
    expect(harness.driver.inFlightCalls()).toBe(1);

    const stopping = harness.driver.stop();
    await vi.waitFor(async () => {
      const readyz = await fetch(harness.driver.httpUrls['/readyz'] ?? '');
      expect(readyz.status).toBe(503);
      expect(await readyz.text()).toContain('stopping');
    });
    expect((await callError(csiClient(harness.socketPath).probe())).code).toBe(UNAVAILABLE);

    gate.open();
    await expect(publishing).resolves.toEqual({});
    await stopping;
    expect(exists(harness.socketPath)).toBe(false);
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(visibleFiles(volume.targetPath)).toEqual(['value']);
    expect(harness.logLines.some((line) => line.includes('stopped; mounted volumes stay mounted'))).toBe(true);

    // The next driver pod picks the volume up and can unpublish it.
    const next = await startDriver(harness.config, { providerTypes: [gated.type], logDestination: { write: () => undefined } });
    cleanups.push(() => next.stop());
    // Like the kubelet, retry while the new socket comes up (gRPC backs off after the old one went away).
    const client = csiClient(harness.socketPath);
    await vi.waitFor(() => client.nodeUnpublishVolume({ volume_id: volume.volumeId, target_path: volume.targetPath }), { timeout: 15_000, interval: 200 });
    expect(findmnt(volume.targetPath)).toBeUndefined();
  });

  it('cancels what is still running at --shutdown-timeout, which rolls the publish back', async () => {
    const { harness, gated } = await gatedHarness('300ms');
    const gate = gated.gate();
    const volume = harness.newVolume();
    const publishing = callError(harness.publish(volume, { provider: 'gated' }));
    await gate.entered;
    const started = Date.now();
    await harness.driver.stop();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect([1, UNAVAILABLE]).toContain((await publishing).code);
    await vi.waitFor(() => {
      expect(findmnt(volume.targetPath)).toBeUndefined();
      expect(exists(volume.targetPath)).toBe(false);
    });
    expect(harness.logLines.some((line) => line.includes('cancelled the calls still running at --shutdown-timeout'))).toBe(true);
  });

  it('happens on SIGTERM to `keymount serve`: exit code 0, socket removed, volumes still mounted', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymount-sigterm-'));
    cleanups.push(() => {
      for (const mountPoint of mountsUnder(root).reverse()) execFileSync('umount', [mountPoint]);
      rmSync(root, { recursive: true, force: true });
    });
    const socketPath = join(root, 'csi.sock');
    const server = spawn(
      'node',
      [join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'), 'serve', '--endpoint', `unix://${socketPath}`, '--state-dir', join(root, 'state'), '--node-id', 'n', '--shutdown-timeout', '5s'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    cleanups.push(() => {
      server.kill('SIGKILL');
    });
    await vi.waitFor(() => {
      if (!output.includes('keymount is serving')) throw new Error(`not serving yet:\n${output}`);
    }, { timeout: 15_000 });

    const volume = newPodVolume(join(root, 'kubelet'));
    await csiClient(socketPath).nodePublishVolume(publishRequest(volume, { provider: 'local-ca', 'dns-names': 'web.shop.svc' }));
    const killedAt = Date.now();
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(output).toContain('"signal":"SIGTERM"');
    expect(exists(socketPath)).toBe(false);
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(visibleFiles(volume.targetPath)).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
  });
});
