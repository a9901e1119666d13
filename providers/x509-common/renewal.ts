/**
 * When a certificate is renewed, and the per-volume memory that keeps a
 * republish from issuing a new certificate before then.
 *
 * The core calls fetch at the time a FetchResult's refreshAt names (the
 * renewal), and also on kubelet republishes and after its refresh interval.
 * Only the first must issue: the others answer UNCHANGED while the
 * certificate the core holds is the one issued last and is not yet due.
 */
import type { Clock, FetchRequest, Unchanged } from '../../src/provider/contract.js';

/** The versions key under which certificate providers report the serial number. */
export const CERTIFICATE_VERSION_KEY = 'certificate';

/** A timer may fire a little early by the wall clock; a renewal that close to due is treated as due. */
const DUE_TOLERANCE_MS = 1000;

export interface Validity {
  /** When the certificate was issued (the node's clock; not a backdated notBefore). */
  readonly issuedAt: Date;
  readonly notAfter: Date;
}

/**
 * notAfter − renew-before. Without `renew-before`, or with one not shorter
 * than the lifetime (issuedAt … notAfter), renew-before is a third of the
 * lifetime, so the renewal always lies after issuance.
 */
export function renewalTime(validity: Validity, renewBeforeMs: number | undefined): Date {
  const lifetimeMs = validity.notAfter.getTime() - validity.issuedAt.getTime();
  const before = renewBeforeMs === undefined || renewBeforeMs >= lifetimeMs ? lifetimeMs / 3 : renewBeforeMs;
  return new Date(Math.floor(validity.notAfter.getTime() - before));
}

interface Issued {
  readonly serialNumber: string;
  readonly refreshAt: Date;
}

/** What each volume was issued last, in memory (a restarted driver issues anew at the next fetch). */
export class IssuedCertificates {
  private readonly issued = new Map<string, Issued>();

  constructor(private readonly clock: Clock) {}

  /**
   * UNCHANGED (with the renewal time, so the core keeps its schedule) when the
   * core holds the certificate issued last for this volume and it is not due;
   * undefined when a certificate must be issued.
   */
  unchanged(request: Pick<FetchRequest<unknown>, 'volumeId' | 'previousVersions'>): Unchanged | undefined {
    const issued = this.issued.get(request.volumeId);
    if (issued === undefined) return undefined;
    if (request.previousVersions[CERTIFICATE_VERSION_KEY] !== issued.serialNumber) return undefined;
    if (this.clock.now().getTime() >= issued.refreshAt.getTime() - DUE_TOLERANCE_MS) return undefined;
    return { unchanged: true, refreshAt: issued.refreshAt };
  }

  remember(volumeId: string, serialNumber: string, refreshAt: Date): void {
    this.issued.set(volumeId, { serialNumber, refreshAt });
  }

  forget(volumeId: string): void {
    this.issued.delete(volumeId);
  }
}
