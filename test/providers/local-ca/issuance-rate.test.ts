/**
 * local-ca's per-volume issuance rate (setting maxIssuancesPerMinute): a pod
 * whose certificate is due again every second gets a few, then its renewals
 * wait, keeping its current certificate; a volume with none is told when to
 * retry.
 */
import { describe, expect, it } from 'vitest';
import { isUnchanged, type FetchResult } from '../../../src/provider/contract.js';
import { localCaProviderType } from '../../../providers/local-ca/index.js';
import { FakeClock, RecordingLogger, createLocalCa, expectKeymountError, fetchOutcome } from './helpers.js';

/** Renewal is due a second after issuance. */
const EVERY_SECOND = { duration: '1h', 'renew-before': '59m59s' };

describe('local-ca issuance rate', () => {
  it('defers renewals past maxIssuancesPerMinute and names the time, then issues again', async () => {
    const { provider, clock, logger } = await createLocalCa({ maxIssuancesPerMinute: 2 });
    let previous = (await fetchOutcome(provider, EVERY_SECOND)) as FetchResult;
    clock.advance(1_000);
    previous = (await fetchOutcome(provider, EVERY_SECOND, { previousVersions: { ...previous.versions } })) as FetchResult;
    expect(isUnchanged(previous)).toBe(false);
    clock.advance(1_000);
    const deferred = await fetchOutcome(provider, EVERY_SECOND, { previousVersions: { ...previous.versions } });
    // Two tokens were spent at t=0 and t=1s, at one per 30 s: the next comes at t=30s.
    expect(deferred).toEqual({ unchanged: true, refreshAt: new Date(clock.now().getTime() + 28_000) });
    const warning = logger.records.find((record) => record.level === 'warn' && record.message.includes('renewal deferred'));
    expect(warning?.fields).toMatchObject({ instance: 'test-ca', namespace: 'shop', maxIssuancesPerMinute: 2 });
    clock.advance(28_000);
    const renewed = await fetchOutcome(provider, EVERY_SECOND, { previousVersions: { ...previous.versions } });
    expect(isUnchanged(renewed)).toBe(false);
    expect((renewed as FetchResult).versions.certificate).not.toBe(previous.versions.certificate);
  });

  it('answers RESOURCE_EXHAUSTED to a volume that holds no certificate, with the setting and the retry time', async () => {
    const { provider, clock } = await createLocalCa({ maxIssuancesPerMinute: 1 });
    await fetchOutcome(provider, EVERY_SECOND);
    const error = await expectKeymountError(() => fetchOutcome(provider, EVERY_SECOND), 'RESOURCE_EXHAUSTED');
    expect(error.message).toBe(
      'too many certificates for this volume: local-ca instance "test-ca" issues at most 1 per minute per volume ' +
        `(setting "maxIssuancesPerMinute"); retry after ${new Date(clock.now().getTime() + 60_000).toISOString()}`,
    );
    // Other volumes are not affected.
    expect(isUnchanged(await fetchOutcome(provider, EVERY_SECOND, { volumeId: 'csi-other-volume' }))).toBe(false);
  });

  it('allows 4 a minute by default', async () => {
    const { provider } = await createLocalCa();
    for (let index = 0; index < 4; index++) await fetchOutcome(provider, EVERY_SECOND);
    await expectKeymountError(() => fetchOutcome(provider, EVERY_SECOND), 'RESOURCE_EXHAUSTED');
  });

  it.each([0, 1.5, 601, '4'])('refuses maxIssuancesPerMinute %j, naming the setting', async (value) => {
    const creation = localCaProviderType.create('admin-ca', { maxIssuancesPerMinute: value }, { clock: new FakeClock(), logger: new RecordingLogger() });
    await expect(creation).rejects.toThrow(/local-ca instance "admin-ca": invalid settings: maxIssuancesPerMinute: /);
  });
});
