/**
 * Volumes that stay fresh: refresh on republish, atomic swaps under a
 * concurrent reader, keeping the last good files through an outage, the
 * provider's own schedule without any republish, and group ownership seen by
 * a real non-root process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { RecordingMetrics } from '../helpers/recording-metrics.js';
import { versionedProviderType } from '../helpers/test-providers.js';
import { IS_ROOT, ROOT_REASON, join } from '../helpers/system.js';
import type { VolumeRecord } from '../../src/volume/state-store.js';
import { FileStateStore } from '../../src/volume/state-store.js';

class FakeClock {
  current = Date.now();
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

const contentOf = (root: string, name: string): string => readFileSync(join(root, name), 'utf8').replace(/\.+$/, '');

describe.skipIf(!IS_ROOT)(`refresh on republish (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  const clock = new FakeClock();
  const metrics = new RecordingMetrics();
  const versioned = versionedProviderType(clock);
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [versioned.type],
      providers: { kv: { type: 'versioned', settings: { minRefreshInterval: '1m' } } },
      clock,
      metrics,
      limits: { refreshBackoffBaseMs: 30_000, refreshBackoffMaxMs: 120_000 },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('fetches again only when refreshInterval has passed, and swaps the set only when something changed', async () => {
    const backend = versioned.backend;
    backend.version = 1;
    const volume = harness.newVolume();
    const attributes = { provider: 'kv', refreshInterval: '5m' };
    await harness.publish(volume, attributes);
    const firstData = readlinkSync(join(volume.targetPath, '..data'));
    const callsAfterPublish = backend.calls;

    backend.version = 2;
    clock.advance(60_000);
    await harness.publish(volume, attributes);
    expect(backend.calls).toBe(callsAfterPublish);
    expect(contentOf(volume.targetPath, 'a')).toBe('a=v1;');

    clock.advance(5 * 60_000);
    await harness.publish(volume, attributes);
    expect(contentOf(volume.targetPath, 'a')).toBe('a=v2;');
    expect(contentOf(volume.targetPath, 'b')).toBe('b=v2;');
    const secondData = readlinkSync(join(volume.targetPath, '..data'));
    expect(secondData).not.toBe(firstData);

    clock.advance(5 * 60_000);
    const downloads = backend.downloads;
    await harness.publish(volume, attributes);
    expect(backend.downloads).toBe(downloads);
    expect(readlinkSync(join(volume.targetPath, '..data'))).toBe(secondData);
    expect(metrics.refreshes.unchanged).toBeGreaterThanOrEqual(1);
    await harness.unpublish(volume);
  });

  it('raises a refreshInterval below the instance minimum to the minimum', async () => {
    versioned.backend.version = 10;
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'kv', refreshInterval: '1s' });
    versioned.backend.version = 11;
    clock.advance(30_000);
    await harness.publish(volume, { provider: 'kv', refreshInterval: '1s' });
    expect(contentOf(volume.targetPath, 'a')).toBe('a=v10;');
    clock.advance(31_000);
    await harness.publish(volume, { provider: 'kv', refreshInterval: '1s' });
    expect(contentOf(volume.targetPath, 'a')).toBe('a=v11;');
    await harness.unpublish(volume);
  });

  it('keeps the last good files through a backend outage, answers OK, records the failure and backs off', async () => {
    const backend = versioned.backend;
    backend.version = 20;
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'kv' });
    backend.down = true;
    backend.version = 21;
    clock.advance(61_000);
    const failedBefore = metrics.refreshes.failed;
    await harness.publish(volume, { provider: 'kv' });
    expect(contentOf(volume.targetPath, 'a')).toBe('a=v20;');
    expect(metrics.refreshes.failed).toBe(failedBefore + 1);
    const record = (await new FileStateStore(harness.stateDir).get(volume.volumeId)) as VolumeRecord;
    expect(record.failures).toBe(1);
    expect(record.lastError).toBe('backend "versioned" is unreachable');
    expect(Date.parse(record.retryAfter ?? '')).toBe(clock.current + 30_000);

    // Within the backoff the backend is left alone.
    const calls = backend.calls;
    clock.advance(10_000);
    await harness.publish(volume, { provider: 'kv' });
    expect(backend.calls).toBe(calls);
    expect(metrics.refreshes.skipped).toBeGreaterThanOrEqual(1);

    // A second failure doubles the wait.
    clock.advance(21_000);
    await harness.publish(volume, { provider: 'kv' });
    expect(backend.calls).toBe(calls + 1);
    const second = (await new FileStateStore(harness.stateDir).get(volume.volumeId)) as VolumeRecord;
    expect(second.failures).toBe(2);
    expect(Date.parse(second.retryAfter ?? '')).toBe(clock.current + 60_000);

    backend.down = false;
    clock.advance(61_000);
    await harness.publish(volume, { provider: 'kv' });
    expect(contentOf(volume.targetPath, 'a')).toBe('a=v21;');
    const healed = (await new FileStateStore(harness.stateDir).get(volume.volumeId)) as VolumeRecord;
    expect(healed.failures).toBe(0);
    expect(healed.lastError).toBeUndefined();
    await harness.unpublish(volume);
  });

  it('never shows a reader a half-written file or a mixed set while it swaps', async () => {
    const backend = versioned.backend;
    backend.version = 100;
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'kv' });
    // A separate process reads as a container would, as fast as it can.
    const reader = spawn(process.execPath, [
      '-e',
      `
      const fs = require('node:fs'); const path = require('node:path');
      const root = process.argv[1]; const until = Date.now() + 4000;
      let reads = 0, mixed = 0, partial = 0;
      while (Date.now() < until) {
        try {
          const a = fs.readFileSync(path.join(root, 'a'), 'utf8');
          if (a.length !== 4096 || !/^a=v\\d+;\\.+$/.test(a)) partial++;
          const data = fs.realpathSync(path.join(root, '..data'));
          const va = fs.readFileSync(path.join(data, 'a'), 'utf8').split(';')[0].slice(2);
          const vb = fs.readFileSync(path.join(data, 'b'), 'utf8').split(';')[0].slice(2);
          if (va !== vb) mixed++;
          reads++;
        } catch (error) { if (error.code !== 'ENOENT') throw error; }
      }
      process.stdout.write(JSON.stringify({ reads, mixed, partial }));
      `,
      volume.targetPath,
    ]);
    let output = '';
    reader.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const finished = new Promise<void>((resolve) => reader.on('close', () => { resolve(); }));
    let swaps = 0;
    const until = Date.now() + 3500;
    while (Date.now() < until) {
      backend.version++;
      clock.advance(61_000);
      await harness.publish(volume, { provider: 'kv' });
      swaps++;
    }
    await finished;
    const result = JSON.parse(output) as { reads: number; mixed: number; partial: number };
    expect(swaps).toBeGreaterThan(20);
    expect(result.reads).toBeGreaterThan(100);
    expect(result).toMatchObject({ mixed: 0, partial: 0 });
    expect(contentOf(volume.targetPath, 'b')).toBe(`b=v${backend.version};`);
    await harness.unpublish(volume);
  }, 20_000);

  it('lets a process with the volume group read the files and one without it not', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'kv' }, { mountGroup: '2000' });
    // In a pod only the mount is visible; here its parents must be traversable for uid 1000.
    for (let directory = dirname(volume.targetPath); directory !== dirname(harness.root); directory = dirname(directory)) chmodSync(directory, 0o755);
    const asUser = (groups: string[]): string =>
      execFileSync('setpriv', ['--reuid', '1000', '--regid', '1000', ...groups, 'cat', join(volume.targetPath, 'a')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    expect(asUser(['--groups', '2000']).replace(/\.+$/, '')).toMatch(/^a=v\d+;$/);
    expect(() => asUser(['--clear-groups'])).toThrow(/Permission denied/);
    await harness.unpublish(volume);
  });
});

describe.skipIf(!IS_ROOT)(`the provider's own schedule (${IS_ROOT ? 'real tmpfs, real clock' : ROOT_REASON})`, () => {
  const metrics = new RecordingMetrics();
  const versioned = versionedProviderType();
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [versioned.type],
      providers: { kv: { type: 'versioned', settings: {} } },
      metrics,
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('refreshes when the provider asked to, without any republish, and stops after unpublish', async () => {
    const backend = versioned.backend;
    backend.version = 1;
    backend.refreshAfterMs = 1000;
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'kv' });
    backend.version = 2;
    await expect.poll(() => contentOf(volume.targetPath, 'a'), { timeout: 5000, interval: 100 }).toBe('a=v2;');
    expect(metrics.renewals.renewed).toBeGreaterThanOrEqual(1);
    await harness.unpublish(volume);
    const calls = backend.calls;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(backend.calls).toBe(calls);
    backend.refreshAfterMs = undefined;
  });
});

describe.skipIf(!IS_ROOT)(`certificate renewal by the driver's own timer (${IS_ROOT ? 'real tmpfs, real clock' : ROOT_REASON})`, () => {
  let harness: Harness;

  beforeAll(async () => {
    // Below local-ca's default minDuration (1h): the instance allows the short certificates this test needs.
    harness = await startHarness({ providers: { 'local-ca': { type: 'local-ca', settings: { policy: { minDuration: '2s' } } } } });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('renews a 2-second certificate at renew-before without any republish, and the new one verifies', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'local-ca', duration: '2s', 'renew-before': '1s', 'reuse-private-key': 'true' });
    const crt = join(volume.targetPath, 'tls.crt');
    const first = new X509Certificate(readFileSync(crt));
    const firstKey = readFileSync(join(volume.targetPath, 'tls.key'), 'utf8');
    await expect.poll(() => new X509Certificate(readFileSync(crt)).serialNumber, { timeout: 6000, interval: 100 }).not.toBe(first.serialNumber);
    const renewed = new X509Certificate(readFileSync(crt));
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.parse(first.validTo));
    expect(execFileSync('openssl', ['verify', '-CAfile', join(volume.targetPath, 'ca.crt'), crt], { encoding: 'utf8' })).toContain(': OK');
    // reuse-private-key: the renewed certificate carries the same key.
    expect(readFileSync(join(volume.targetPath, 'tls.key'), 'utf8')).toBe(firstKey);
    // It keeps renewing: the volume never serves an expired certificate.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(Date.parse(new X509Certificate(readFileSync(crt)).validTo)).toBeGreaterThan(Date.now());
    await harness.unpublish(volume);
  }, 20_000);
});
