/** Renewal times, the per-volume issuance memory and the key store, with a fake clock. */
import { describe, expect, it } from 'vitest';
import { IssuedCertificates, KeyStore, renewalTime } from '../../../providers/x509-common/index.js';
import { FakeClock } from '../local-ca/helpers.js';

const HOUR = 3600_000;
const ISSUED_AT = new Date('2030-01-01T00:00:00Z');
const at = (hours: number): Date => new Date(ISSUED_AT.getTime() + hours * HOUR);

describe('renewalTime', () => {
  const validity = { issuedAt: ISSUED_AT, notAfter: at(24) };

  it('renews a third of the lifetime before notAfter by default', () => {
    expect(renewalTime(validity, undefined)).toEqual(at(16));
  });

  it('renews renew-before ahead of notAfter', () => {
    expect(renewalTime(validity, 2 * HOUR)).toEqual(at(22));
    expect(renewalTime(validity, 23 * HOUR)).toEqual(at(1));
  });

  it('falls back to the default when renew-before is not shorter than the lifetime', () => {
    expect(renewalTime(validity, 24 * HOUR)).toEqual(at(16));
    expect(renewalTime(validity, 48 * HOUR)).toEqual(at(16));
  });
});

describe('IssuedCertificates', () => {
  function setUp(): { clock: FakeClock; issued: IssuedCertificates } {
    const clock = new FakeClock(ISSUED_AT);
    const issued = new IssuedCertificates(clock);
    issued.remember('volume', 'AA01', at(16));
    return { clock, issued };
  }
  const republish = { volumeId: 'volume', previousVersions: { certificate: 'AA01' } };

  it('answers UNCHANGED with the renewal time while the held certificate is not due', () => {
    const { clock, issued } = setUp();
    expect(issued.unchanged(republish)).toEqual({ unchanged: true, refreshAt: at(16) });
    clock.advance(15.9 * HOUR);
    expect(issued.unchanged(republish)).toEqual({ unchanged: true, refreshAt: at(16) });
  });

  it('asks for a new certificate once due (a timer may fire up to a second early)', () => {
    const { clock, issued } = setUp();
    clock.advance(16 * HOUR - 500);
    expect(issued.unchanged(republish)).toBeUndefined();
  });

  it('asks for a new certificate when the core holds another one, or none, or the volume is unknown', () => {
    const { issued } = setUp();
    expect(issued.unchanged({ volumeId: 'volume', previousVersions: { certificate: 'BB02' } })).toBeUndefined();
    expect(issued.unchanged({ volumeId: 'volume', previousVersions: {} })).toBeUndefined();
    expect(issued.unchanged({ volumeId: 'other', previousVersions: { certificate: 'AA01' } })).toBeUndefined();
  });

  it('forgets a volume', () => {
    const { issued } = setUp();
    issued.forget('volume');
    expect(issued.unchanged(republish)).toBeUndefined();
  });
});

describe('KeyStore', () => {
  const p256 = { algorithm: 'ECDSA', curve: 'P-256' } as const;

  it('returns the remembered key only when reuse is asked for and the spec fits', async () => {
    const keys = new KeyStore();
    const first = await keys.keyFor('volume', p256, true);
    expect(await keys.keyFor('volume', p256, true)).toBe(first);
    const other = await keys.keyFor('volume', { algorithm: 'Ed25519' }, true);
    expect(other).not.toBe(first);
    expect(other.privateKey.asymmetricKeyType).toBe('ed25519');
  });

  it('remembers nothing without reuse, and forgets on request', async () => {
    const keys = new KeyStore();
    await keys.keyFor('volume', p256, false);
    expect(keys.size).toBe(0);
    const kept = await keys.keyFor('volume', p256, true);
    expect(keys.size).toBe(1);
    keys.forget('volume');
    expect(keys.size).toBe(0);
    expect(await keys.keyFor('volume', p256, true)).not.toBe(kept);
  });
});
