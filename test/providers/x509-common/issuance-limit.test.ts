/** The per-volume issuance rate: a token bucket per volume ID. */
import { describe, expect, it } from 'vitest';
import { KeymountError } from '../../../src/provider/contract.js';
import { IssuanceLimiter, checkIssuanceRate } from '../../../providers/x509-common/index.js';
import { FakeClock } from '../local-ca/helpers.js';

const LIMIT = { instance: 'local-ca instance "shared"', setting: 'maxIssuancesPerMinute', maxPerMinute: 3 };

describe('IssuanceLimiter', () => {
  it('allows maxPerMinute at once, then one each 60/maxPerMinute seconds, per volume', () => {
    const clock = new FakeClock();
    const limiter = new IssuanceLimiter(3, clock);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([undefined, undefined, undefined]);
    expect(limiter.take('a')?.getTime()).toBe(clock.now().getTime() + 20_000);
    // Another volume has its own bucket.
    expect(limiter.take('b')).toBeUndefined();
    clock.advance(19_999);
    expect(limiter.take('a')?.getTime()).toBe(clock.now().getTime() + 1);
    clock.advance(1);
    expect(limiter.take('a')).toBeUndefined();
    expect(limiter.take('a')).toBeDefined();
    // A long pause refills the bucket, never beyond its size.
    clock.advance(60 * 60_000);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([undefined, undefined, undefined]);
    expect(limiter.take('a')).toBeDefined();
  });
});

describe('checkIssuanceRate', () => {
  it('defers a renewal of a volume that holds a certificate to when it may issue again', () => {
    const clock = new FakeClock();
    const limiter = new IssuanceLimiter(3, clock);
    const renewal = { volumeId: 'v', previousVersions: { certificate: '0A' } };
    for (let index = 0; index < 3; index++) expect(checkIssuanceRate(limiter, renewal, LIMIT)).toBeUndefined();
    expect(checkIssuanceRate(limiter, renewal, LIMIT)).toEqual({ unchanged: true, refreshAt: new Date(clock.now().getTime() + 20_000) });
  });

  it('refuses a volume that holds no certificate with RESOURCE_EXHAUSTED saying what and when', () => {
    const clock = new FakeClock();
    const limiter = new IssuanceLimiter(3, clock);
    const publish = { volumeId: 'v', previousVersions: {} };
    for (let index = 0; index < 3; index++) checkIssuanceRate(limiter, publish, LIMIT);
    let caught: unknown;
    try {
      checkIssuanceRate(limiter, publish, LIMIT);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KeymountError);
    const error = caught as KeymountError;
    expect(error.code).toBe('RESOURCE_EXHAUSTED');
    expect(error.message).toBe(
      'too many certificates for this volume: local-ca instance "shared" issues at most 3 per minute per volume ' +
        `(setting "maxIssuancesPerMinute"); retry after ${new Date(clock.now().getTime() + 20_000).toISOString()}`,
    );
  });
});
