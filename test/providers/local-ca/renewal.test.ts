/**
 * Renewal at the provider level: the refreshAt/notAfter local-ca reports,
 * UNCHANGED for republishes before it, a new certificate when the core calls
 * at or after it, reuse-private-key, and release(). The core's timer that
 * makes the renewal call is tested with the volume lifecycle.
 */
import { describe, expect, it } from 'vitest';
import { isUnchanged, type FetchResult, type Provider } from '../../../src/provider/contract.js';
import { VOLUME_ID, createLocalCa, fetchOutcome, issue, type FetchOptions } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A fetch with the versions of `previous`, as the core makes on a republish or a renewal. */
async function refetch(
  provider: Provider,
  attributes: Record<string, string>,
  previous: FetchResult,
  options: FetchOptions = {},
): ReturnType<typeof fetchOutcome> {
  return fetchOutcome(provider, attributes, { previousVersions: { ...previous.versions }, ...options });
}

function serialOf(result: FetchResult): string {
  return result.versions.certificate ?? 'missing';
}

describe('local-ca renewal times', () => {
  it('reports notAfter and a refreshAt a third of the lifetime before it by default', async () => {
    const { provider, clock } = await createLocalCa();
    const now = clock.now().getTime();
    const { result } = await issue(provider, { duration: '24h' });
    expect(result.notAfter?.getTime()).toBe(now + 24 * HOUR);
    expect(result.refreshAt?.getTime()).toBe(now + 16 * HOUR);
  });

  it('renews renew-before ahead of notAfter', async () => {
    const { provider, clock } = await createLocalCa();
    const now = clock.now().getTime();
    const { result } = await issue(provider, { duration: '2h', 'renew-before': '30m' });
    expect(result.refreshAt?.getTime()).toBe(now + 90 * MINUTE);
  });

  it('falls back to a third of the lifetime when renew-before is not shorter than it', async () => {
    const { provider, clock } = await createLocalCa();
    const now = clock.now().getTime();
    for (const renewBefore of ['3h', '6h']) {
      const { result } = await issue(provider, { duration: '3h', 'renew-before': renewBefore });
      expect(result.refreshAt?.getTime()).toBe(now + 2 * HOUR);
    }
  });

  it('measures the lifetime to the CA\'s end when the CA cuts the certificate short', async () => {
    const { provider, clock } = await createLocalCa({ policy: { maxDuration: '10000h' } });
    clock.advance(365 * 24 * HOUR - 3 * HOUR);
    const now = clock.now().getTime();
    const { result } = await issue(provider, { duration: '24h' });
    expect(result.notAfter?.getTime()).toBe(now + 3 * HOUR);
    expect(result.refreshAt?.getTime()).toBe(now + 2 * HOUR);
  });
});

describe('local-ca republish and renewal', () => {
  it('answers UNCHANGED, with the renewal time, to republishes before renewal is due', async () => {
    const { provider, clock } = await createLocalCa();
    const { result } = await issue(provider);
    for (const elapsed of [0, MINUTE, 15 * HOUR]) {
      clock.advance(elapsed);
      const outcome = await refetch(provider, {}, result);
      expect(isUnchanged(outcome)).toBe(true);
      expect(outcome).toMatchObject({ unchanged: true, refreshAt: result.refreshAt });
    }
  });

  it('issues a new certificate and key once the renewal time has come', async () => {
    const { provider, clock } = await createLocalCa();
    const first = await issue(provider);
    clock.advance(16 * HOUR);
    const renewed = await issue(provider, {}, { previousVersions: { ...first.result.versions } });
    expect(renewed.certificate.serialNumber).not.toBe(first.certificate.serialNumber);
    expect(renewed.file('tls.key').equals(first.file('tls.key'))).toBe(false);
    expect(renewed.result.refreshAt?.getTime()).toBe(clock.now().getTime() + 16 * HOUR);
    // The new certificate is now the one republishes keep.
    expect(isUnchanged(await refetch(provider, {}, renewed.result))).toBe(true);
  });

  it('issues when the core holds another certificate than the last one issued (its write failed)', async () => {
    const { provider } = await createLocalCa();
    const first = await issue(provider);
    const second = await issue(provider, {}, { previousVersions: { certificate: 'AB12' } });
    expect(serialOf(second.result)).not.toBe(serialOf(first.result));
  });

  it('issues on a first fetch even when the volume had a certificate (a restarted driver)', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, {}, { previousVersions: { certificate: '4F00AA' } });
    expect(serialOf(volume.result)).toMatch(/^[0-9A-F]{32}$/);
  });

  it('keeps each volume\'s certificate apart', async () => {
    const { provider } = await createLocalCa();
    const first = await issue(provider, {}, { volumeId: 'volume-a' });
    const outcome = await refetch(provider, {}, first.result, { volumeId: 'volume-b' });
    expect(isUnchanged(outcome)).toBe(false);
    expect(isUnchanged(await refetch(provider, {}, first.result, { volumeId: 'volume-a' }))).toBe(true);
  });

  it('forgets a volume on release, so its next fetch issues again', async () => {
    const { provider } = await createLocalCa();
    const { result } = await issue(provider);
    await provider.release?.(VOLUME_ID, new AbortController().signal);
    const outcome = await refetch(provider, {}, result);
    expect(isUnchanged(outcome)).toBe(false);
  });
});

describe('local-ca reuse-private-key', () => {
  it('keeps the key across renewals when asked', async () => {
    const { provider, clock } = await createLocalCa();
    const attributes = { 'reuse-private-key': 'true', 'key-algorithm': 'RSA' };
    const first = await issue(provider, attributes);
    clock.advance(16 * HOUR);
    const renewed = await issue(provider, attributes, { previousVersions: { ...first.result.versions } });
    expect(renewed.certificate.serialNumber).not.toBe(first.certificate.serialNumber);
    expect(renewed.file('tls.key').equals(first.file('tls.key'))).toBe(true);
    expect(renewed.certificate.checkPrivateKey(renewed.privateKey)).toBe(true);
  });

  it('keeps a key per volume, and drops it on release', async () => {
    const { provider } = await createLocalCa();
    const attributes = { 'reuse-private-key': 'true' };
    const first = await issue(provider, attributes, { volumeId: 'volume-a' });
    const other = await issue(provider, attributes, { volumeId: 'volume-b' });
    expect(other.file('tls.key').equals(first.file('tls.key'))).toBe(false);

    const again = await issue(provider, attributes, { volumeId: 'volume-a' });
    expect(again.file('tls.key').equals(first.file('tls.key'))).toBe(true);
    await provider.release?.('volume-a', new AbortController().signal);
    const afterRelease = await issue(provider, attributes, { volumeId: 'volume-a' });
    expect(afterRelease.file('tls.key').equals(first.file('tls.key'))).toBe(false);
  });

  it('makes a new key at every issuance without it', async () => {
    const { provider, clock } = await createLocalCa();
    const first = await issue(provider, { 'reuse-private-key': 'false' });
    clock.advance(16 * HOUR);
    const renewed = await issue(provider, { 'reuse-private-key': 'false' }, { previousVersions: { ...first.result.versions } });
    expect(renewed.file('tls.key').equals(first.file('tls.key'))).toBe(false);
  });
});
