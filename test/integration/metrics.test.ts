/**
 * /metrics as Prometheus scrapes it, after real publishes through the CSI
 * socket: counters and histograms move by provider instance and gRPC code,
 * refresh and renewal outcomes are counted, and nothing a pod chooses (volume
 * IDs, pod names, made-up provider names) becomes a label.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildConfig, ConfigError } from '../../src/config/config.js';
import { BUILT_IN_PROVIDER_TYPES } from '../../src/provider/built-in.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, join } from '../helpers/system.js';
import { versionedProviderType, type VersionedBackend } from '../helpers/test-providers.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (what a scraper reads). */
function parseExposition(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    if (line === '' || line.startsWith('#')) return [];
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key = '', value = ''] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    return [{ name: match[1] ?? '', labels, value: Number(match[3]) }];
  });
}

class Scrape {
  constructor(
    readonly text: string,
    readonly samples: readonly Sample[],
  ) {}

  /** The value of the one sample with this name and these labels (among others), or undefined. */
  value(name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
    const found = this.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
    if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} series`);
    return found[0]?.value;
  }
}

async function scrape(harness: Harness): Promise<Scrape> {
  const url = harness.driver.httpUrls['/metrics'];
  if (url === undefined) throw new Error('the driver serves no /metrics');
  const response = await fetch(url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const text = await response.text();
  return new Scrape(text, parseExposition(text));
}

const call = (method: string, provider: string, code: string) => ({ method, provider, code });

describe('--metrics-addr', () => {
  it('is validated at start-up', () => {
    for (const bad of ['9811', 'localhost', ':99999', '[::1:9811', 'http://x:1']) {
      expect(() => buildConfig({ 'node-id': 'n', 'metrics-addr': bad }, {}, false)).toThrow(ConfigError);
    }
    expect(() => buildConfig({ 'node-id': 'n', 'metrics-addr': 'x' }, {}, false)).toThrow('--metrics-addr "x" must be HOST:PORT');
    expect(buildConfig({ 'node-id': 'n' }, { KEYMOUNT_METRICS_ADDR: '[::1]:9811' }, false).metricsAddress).toEqual({ host: '::1', port: 9811 });
    expect(buildConfig({ 'node-id': 'n', 'metrics-addr': ':9811' }, {}, false).metricsAddress).toEqual({ host: '', port: 9811 });
    expect(buildConfig({ 'node-id': 'n' }, {}, false).metricsAddress).toBeUndefined();
  });

  it('serves nothing unless set', async () => {
    const harness = await startHarness();
    try {
      expect(harness.driver.httpUrls).toEqual({});
    } finally {
      await harness.stop();
    }
  });
});

describe.skipIf(!IS_ROOT)(`/metrics after real publishes (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  let backend: VersionedBackend;

  beforeAll(async () => {
    const versioned = versionedProviderType();
    backend = versioned.backend;
    harness = await startHarness({
      flags: { 'metrics-addr': '127.0.0.1:0', 'log-level': 'warn' },
      providerTypes: [...BUILT_IN_PROVIDER_TYPES, versioned.type],
      providers: {
        'local-ca': { type: 'local-ca', settings: {} },
        versioned: { type: 'versioned', settings: { minRefreshInterval: '1s' } },
      },
      limits: { refreshBackoffBaseMs: 5_000 },
    });
  });

  afterAll(async () => {
    await harness.stop();
  });

  it('includes the process metrics and says which version runs', async () => {
    const metrics = await scrape(harness);
    expect(metrics.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(metrics.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(metrics.value('keymount_build_info', { version: '0.1.0' })).toBe(1);
    expect(metrics.value('keymount_ready')).toBe(1);
    // Every instance's series exist before the first volume, so rate() and "== 0" alerts work at once.
    expect(metrics.value('keymount_volumes_mounted', { provider: 'versioned' })).toBe(0);
    expect(metrics.value('keymount_refreshes_total', { provider: 'versioned', outcome: 'failed' })).toBe(0);
  });

  it('counts a publish and its latency by provider and code, and the provider fetch, the mount and the certificate expiry', async () => {
    const before = await scrape(harness);
    const volume = harness.newVolume('tls');
    await harness.publish(volume, { provider: 'local-ca', 'dns-names': 'web.shop.svc' });
    const after = await scrape(harness);

    const publishOk = call('NodePublishVolume', 'local-ca', 'OK');
    expect(before.value('keymount_csi_calls_total', publishOk)).toBeUndefined();
    expect(after.value('keymount_csi_calls_total', publishOk)).toBe(1);
    expect(after.value('keymount_csi_call_duration_seconds_count', publishOk)).toBe(1);
    expect(after.value('keymount_csi_call_duration_seconds_sum', publishOk)).toBeGreaterThan(0);
    expect(after.value('keymount_csi_call_duration_seconds_bucket', { ...publishOk, le: '+Inf' })).toBe(1);
    expect(after.value('keymount_provider_fetch_duration_seconds_count', { provider: 'local-ca', result: 'OK' })).toBe(1);
    expect(after.value('keymount_volumes_mounted', { provider: 'local-ca' })).toBe(1);

    const notAfter = Date.parse(new X509Certificate(readFileSync(join(volume.targetPath, 'tls.crt'))).validTo) / 1000;
    const expiry = after.value('keymount_certificate_earliest_expiry_timestamp_seconds', { provider: 'local-ca' }) ?? 0;
    expect(Math.abs(expiry - notAfter)).toBeLessThanOrEqual(2);

    await harness.unpublish(volume);
    const gone = await scrape(harness);
    // Unpublish names only the volume; it is still counted under the instance that served it.
    expect(gone.value('keymount_csi_calls_total', call('NodeUnpublishVolume', 'local-ca', 'OK'))).toBe(1);
    expect(gone.value('keymount_volumes_mounted', { provider: 'local-ca' })).toBe(0);
    expect(gone.value('keymount_certificate_earliest_expiry_timestamp_seconds', { provider: 'local-ca' })).toBeUndefined();
  });

  it('counts refused calls by their gRPC code', async () => {
    const volume = harness.newVolume();
    const refused = await callError(harness.publish(volume, { provider: 'local-ca', 'comon-name': 'typo' }));
    expect(refused.details).toContain('comon-name');
    const metrics = await scrape(harness);
    expect(metrics.value('keymount_csi_calls_total', call('NodePublishVolume', 'local-ca', 'INVALID_ARGUMENT'))).toBe(1);
    expect(metrics.value('keymount_csi_call_duration_seconds_count', call('NodePublishVolume', 'local-ca', 'INVALID_ARGUMENT'))).toBe(1);
  });

  it('never makes a label of what a pod chooses: volume IDs, pod names, unknown provider names', async () => {
    const volume = harness.newVolume();
    const madeUp = `pod-chosen-${volume.podUid.slice(0, 8)}`;
    await callError(harness.publish(volume, { provider: madeUp }, { podName: 'label-bomb-pod' }));
    const metrics = await scrape(harness);
    expect(metrics.value('keymount_csi_calls_total', call('NodePublishVolume', '_unknown', 'INVALID_ARGUMENT'))).toBe(1);
    expect(metrics.text).not.toContain(madeUp);
    expect(metrics.text).not.toContain('label-bomb-pod');
    expect(metrics.text).not.toContain(volume.volumeId);
    const labelNames = new Set(metrics.samples.filter((sample) => sample.name.startsWith('keymount_')).flatMap((sample) => Object.keys(sample.labels)));
    expect([...labelNames].sort()).toEqual(['code', 'le', 'method', 'outcome', 'provider', 'result', 'version']);
  });

  it('counts refresh outcomes on republish: unchanged, changed, failed, then skipped during the backoff', async () => {
    const volume = harness.newVolume();
    const attributes = { provider: 'versioned', refreshInterval: '1s' };
    const refreshes = async (outcome: string): Promise<number | undefined> =>
      (await scrape(harness)).value('keymount_refreshes_total', { provider: 'versioned', outcome });
    backend.version = 1;
    await harness.publish(volume, attributes);

    await sleep(1_100);
    await harness.publish(volume, attributes);
    expect(await refreshes('unchanged')).toBe(1);

    backend.version = 2;
    await sleep(1_100);
    await harness.publish(volume, attributes);
    expect(await refreshes('changed')).toBe(1);

    backend.down = true;
    await sleep(1_100);
    await harness.publish(volume, attributes);
    expect(await refreshes('failed')).toBe(1);
    expect((await scrape(harness)).value('keymount_provider_fetch_duration_seconds_count', { provider: 'versioned', result: 'UNAVAILABLE' })).toBe(1);

    await harness.publish(volume, attributes);
    expect(await refreshes('skipped')).toBe(1);
    backend.down = false;
    await harness.unpublish(volume);
  });

  it("counts renewals the provider's own schedule triggers", async () => {
    backend.refreshAfterMs = 300;
    backend.version = 3;
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'versioned' });
    backend.version = 4;
    await vi.waitFor(
      async () => {
        expect((await scrape(harness)).value('keymount_renewals_total', { provider: 'versioned', outcome: 'renewed' })).toBeGreaterThanOrEqual(1);
      },
      { timeout: 10_000, interval: 100 },
    );
    backend.refreshAfterMs = undefined;
    await harness.unpublish(volume);
  });
});
