/**
 * Dynamic secrets (database credentials, issued certificates, …) come with a
 * lease. They are kept per volume in memory: renewed on timers while the
 * volume lives (with the token that created them, since a lease dies with its
 * token), reused by refreshes while fresh, replaced once they cannot be
 * extended, and revoked when the volume is unpublished. A third of a lease's
 * duration is the margin: below it a lease no longer counts as fresh.
 */
import { KeymountError, type Clock, type ProviderLogger, type Sensitive } from '../../src/provider/contract.js';
import type { SecretResponse, VaultApi } from './api.js';
import type { KvVersion } from './kv.js';
import type { CachedToken, TokenCache } from './token-cache.js';

const MIN_TIMER_MS = 1000;
/** setTimeout's limit is ~24.8 days; longer waits are taken in steps. */
const MAX_TIMER_MS = 24 * 3_600_000;
const MAX_RETRY_MS = 30_000;
const BACKGROUND_CALL_TIMEOUT_MS = 30_000;

export interface DynamicSecret {
  /** Which request of the volume it answers (method, path and arguments). */
  readonly requestKey: string;
  readonly leaseId: string;
  readonly owner: CachedToken;
  /** The response, reused by refreshes while the lease is fresh. */
  readonly response: Sensitive<SecretResponse>;
  readonly kvVersion: KvVersion;
  /** A non-secret version for the objects it serves. */
  readonly version: string;
  /** The duration granted at issue: freshness is measured against it. */
  readonly leaseDurationMs: number;
  expiresAtMs: number;
  renewable: boolean;
  /** Vault stopped extending it (max TTL reached): it is left to end and gets replaced. */
  capped: boolean;
}

interface VolumeLeases {
  current: Map<string, DynamicSecret>;
  /** Replaced leases not yet expired: no longer renewed, revoked at release. */
  superseded: DynamicSecret[];
  timer: NodeJS.Timeout | undefined;
}

export class LeaseKeeper {
  private readonly volumes = new Map<string, VolumeLeases>();

  constructor(
    private readonly api: VaultApi,
    private readonly tokens: TokenCache,
    private readonly clock: Clock,
    private readonly logger: ProviderLogger,
  ) {}

  /** The volume's lease for this request, when it and its token are fresh enough to serve again. */
  reusable(volumeId: string, requestKey: string): DynamicSecret | undefined {
    const secret = this.volumes.get(volumeId)?.current.get(requestKey);
    if (secret === undefined) return undefined;
    const now = this.now();
    return isFresh(secret, now) && secret.owner.isFresh(now) ? secret : undefined;
  }

  /** Makes these the volume's leases; the ones they replace are kept for revocation at release. */
  commit(volumeId: string, secrets: ReadonlyMap<string, DynamicSecret>): void {
    const volume: VolumeLeases = this.volumes.get(volumeId) ?? { current: new Map<string, DynamicSecret>(), superseded: [], timer: undefined };
    for (const [key, old] of volume.current) {
      if (secrets.get(key) !== old) volume.superseded.push(old);
    }
    volume.current = new Map(secrets);
    if (volume.current.size === 0 && volume.superseded.length === 0) {
      this.stop(volumeId);
      return;
    }
    this.volumes.set(volumeId, volume);
    this.schedule(volumeId, volume);
  }

  /** Revokes the leases a failed fetch obtained (all or nothing); those that cannot be revoked now wait for release. */
  async abandon(volumeId: string, secrets: readonly DynamicSecret[]): Promise<void> {
    for (const secret of secrets) {
      try {
        await this.api.revokeLease(secret.owner.token, secret.leaseId, AbortSignal.timeout(BACKGROUND_CALL_TIMEOUT_MS));
      } catch (error) {
        // Still attached to the token means the volume is not released yet: keep the lease for its release.
        if (!secret.owner.volumes.has(volumeId)) continue;
        const volume = this.volumes.get(volumeId) ?? { current: new Map<string, DynamicSecret>(), superseded: [], timer: undefined };
        volume.superseded.push(secret);
        this.volumes.set(volumeId, volume);
        this.logger.debug({ volumeId, err: error }, 'vault: could not revoke the lease of a failed fetch now; it is revoked at release');
      }
    }
  }

  /** When the next refresh should look at the volume's leases: when the first stops being fresh unless renewed. */
  refreshAt(volumeId: string): Date | undefined {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) return undefined;
    let earliest = Infinity;
    for (const secret of volume.current.values()) {
      earliest = Math.min(earliest, freshUntil(secret), secret.owner.freshUntil());
    }
    return Number.isFinite(earliest) ? new Date(Math.max(earliest, this.now() + MIN_TIMER_MS)) : undefined;
  }

  /**
   * Revokes the volume's leases. A lease whose token only this volume used is
   * left to the token's revocation (revoke-self needs no extra policy and
   * takes every lease of the token with it).
   */
  async release(volumeId: string, signal: AbortSignal): Promise<void> {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) return;
    this.stop(volumeId);
    const now = this.now();
    for (const secret of [...volume.current.values(), ...volume.superseded]) {
      if (secret.expiresAtMs <= now) continue;
      if (secret.owner.source.revocable && this.tokens.isSoleUser(secret.owner, volumeId)) continue;
      try {
        await this.api.revokeLease(secret.owner.token, secret.leaseId, signal);
      } catch (error) {
        this.logger.warn(
          { volumeId, identity: secret.owner.source.description, err: error },
          'vault: could not revoke a lease of the released volume (its token needs "update" on sys/leases/revoke); it ends at its TTL',
        );
      }
    }
  }

  close(): void {
    for (const volumeId of [...this.volumes.keys()]) this.stop(volumeId);
  }

  private stop(volumeId: string): void {
    const volume = this.volumes.get(volumeId);
    if (volume?.timer !== undefined) clearTimeout(volume.timer);
    this.volumes.delete(volumeId);
  }

  private schedule(volumeId: string, volume: VolumeLeases, retryAtMs?: number): void {
    if (volume.timer !== undefined) clearTimeout(volume.timer);
    volume.timer = undefined;
    const now = this.now();
    volume.superseded = volume.superseded.filter((secret) => secret.expiresAtMs > now);
    let next = retryAtMs ?? Infinity;
    for (const secret of volume.current.values()) next = Math.min(next, renewDueAt(secret), secret.owner.renewDueAt());
    if (!Number.isFinite(next)) return;
    const delay = Math.min(Math.max(next - now, MIN_TIMER_MS), MAX_TIMER_MS);
    volume.timer = setTimeout(() => {
      this.renewDue(volumeId).catch((error: unknown) => {
        this.logger.error({ volumeId, err: error }, 'vault: lease renewal failed unexpectedly');
      });
    }, delay);
    // Renewal never keeps the process alive on its own.
    volume.timer.unref();
  }

  private async renewDue(volumeId: string): Promise<void> {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) return;
    volume.timer = undefined;
    const signal = AbortSignal.timeout(BACKGROUND_CALL_TIMEOUT_MS);
    let failed = false;
    const owners = new Set([...volume.current.values()].map((secret) => secret.owner));
    for (const owner of owners) {
      if (this.now() < owner.renewDueAt()) continue;
      try {
        await this.tokens.renew(owner, signal);
      } catch (error) {
        failed = true;
        this.logger.warn({ volumeId, identity: owner.source.description, err: error }, 'vault: could not renew the token that holds leases');
      }
    }
    for (const secret of volume.current.values()) {
      if (this.now() < renewDueAt(secret)) continue;
      failed = !(await this.renewLease(volumeId, secret, signal)) || failed;
    }
    // Released while renewing: nothing to reschedule.
    if (this.volumes.get(volumeId) !== volume) return;
    this.schedule(volumeId, volume, failed ? this.retryAt(volume) : undefined);
  }

  /** Returns false when a retry may help. */
  private async renewLease(volumeId: string, secret: DynamicSecret, signal: AbortSignal): Promise<boolean> {
    try {
      const grant = await this.api.renewLease(secret.owner.token, secret.leaseId, secret.leaseDurationMs / 1000, signal);
      const expiresAt = this.now() + grant.leaseDurationSeconds * 1000;
      // Vault caps renewals at the lease's max TTL: once it stops moving the lease is left to end and replaced.
      if (expiresAt <= secret.expiresAtMs + MIN_TIMER_MS) secret.capped = true;
      secret.expiresAtMs = Math.max(secret.expiresAtMs, expiresAt);
      secret.renewable = grant.renewable;
      return true;
    } catch (error) {
      const permanent = error instanceof KeymountError && error.code !== 'UNAVAILABLE' && error.code !== 'DEADLINE_EXCEEDED';
      if (permanent) secret.capped = true;
      this.logger.warn({ volumeId, err: error }, 'vault: could not renew a lease');
      return permanent;
    }
  }

  private retryAt(volume: VolumeLeases): number {
    const now = this.now();
    let earliest = Infinity;
    for (const secret of volume.current.values()) earliest = Math.min(earliest, secret.expiresAtMs, secret.owner.expiresAt);
    const margin = Number.isFinite(earliest) ? (earliest - now) / 4 : MAX_RETRY_MS;
    return now + Math.min(Math.max(margin, MIN_TIMER_MS), MAX_RETRY_MS);
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

export function isFresh(secret: DynamicSecret, nowMs: number): boolean {
  return nowMs < freshUntil(secret);
}

function freshUntil(secret: DynamicSecret): number {
  return secret.expiresAtMs - secret.leaseDurationMs / 3;
}

function renewDueAt(secret: DynamicSecret): number {
  return secret.renewable && !secret.capped ? secret.expiresAtMs - secret.leaseDurationMs / 2 : Infinity;
}
