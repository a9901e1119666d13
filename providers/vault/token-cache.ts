/**
 * Vault client tokens, cached per identity (the pod's, or the driver's own)
 * and never shared across identities. A token is reused while more than a
 * third of its TTL is left, renewed when it runs low, and replaced by a new
 * login when it cannot be renewed. A pod's token is revoked when the last
 * volume that used it is released, which also revokes every lease it holds;
 * the driver's own token is never revoked.
 */
import type { Clock, ProviderLogger, Sensitive } from '../../src/provider/contract.js';
import { KeymountError } from '../../src/provider/contract.js';
import type { TokenGrant, VaultApi } from './api.js';

/** One identity that can log in. */
export interface TokenSource {
  /** Identifies the identity; two sources with the same key must be the same identity. */
  readonly key: string;
  /** True for tokens that belong to one pod and die with its volumes. */
  readonly revocable: boolean;
  /** For logs: who this is ("pod shop/web-0, role app"), never a credential. */
  readonly description: string;
  obtain(signal: AbortSignal): Promise<TokenGrant>;
}

export class CachedToken {
  /** Volumes that used this token, and so may hold leases created with it. */
  readonly volumes = new Set<string>();
  private expiresAtMs: number;
  private renewableNow: boolean;
  /** The TTL granted at login: freshness is measured against it, so a capped renewal leads to a new login. */
  readonly ttlMs: number;

  constructor(
    readonly source: TokenSource,
    readonly token: Sensitive<string>,
    grant: TokenGrant,
    nowMs: number,
  ) {
    this.ttlMs = grant.ttlSeconds * 1000;
    this.expiresAtMs = grant.ttlSeconds === 0 ? Infinity : nowMs + this.ttlMs;
    this.renewableNow = grant.renewable;
  }

  get expiresAt(): number {
    return this.expiresAtMs;
  }

  get renewable(): boolean {
    return this.renewableNow && Number.isFinite(this.expiresAtMs);
  }

  isFresh(nowMs: number): boolean {
    return nowMs < this.freshUntil();
  }

  /** After this, the token counts as running low. */
  freshUntil(): number {
    return this.expiresAtMs - this.ttlMs / 3;
  }

  /** When a background renewal should happen (half the TTL left), or Infinity. */
  renewDueAt(): number {
    return this.renewable ? this.expiresAtMs - this.ttlMs / 2 : Infinity;
  }

  renewed(grant: TokenGrant, nowMs: number): void {
    this.expiresAtMs = grant.ttlSeconds === 0 ? Infinity : nowMs + grant.ttlSeconds * 1000;
    this.renewableNow = grant.renewable;
  }

  expired(): void {
    this.expiresAtMs = 0;
    this.renewableNow = false;
  }
}

export class TokenCache {
  private readonly current = new Map<string, CachedToken>();
  /** Current and replaced tokens that some volume still uses. */
  private readonly inUse = new Set<CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly api: VaultApi,
    private readonly clock: Clock,
    private readonly logger: ProviderLogger,
  ) {}

  /** A fresh token of this identity for the volume: cached, renewed, or from a new login. */
  async acquire(source: TokenSource, volumeId: string, signal: AbortSignal): Promise<CachedToken> {
    const cached = this.current.get(source.key);
    const entry = cached !== undefined && cached.isFresh(this.now()) ? cached : await this.refresh(source, cached, signal);
    entry.volumes.add(volumeId);
    this.inUse.add(entry);
    return entry;
  }

  /** Extends the token's TTL; returns false when Vault did not extend it (or it is not renewable). */
  async renew(entry: CachedToken, signal: AbortSignal): Promise<boolean> {
    if (!entry.renewable) return false;
    const before = entry.expiresAt;
    try {
      const grant = await this.api.renewSelf(entry.token, entry.ttlMs / 1000, signal);
      entry.renewed(grant, this.now());
    } catch (error) {
      // A revoked or expired token answers 403: it is of no further use.
      if (error instanceof KeymountError && error.code === 'PERMISSION_DENIED') entry.expired();
      throw error;
    }
    return entry.expiresAt > before;
  }

  /**
   * Vault refused the token (revoked or expired out of band, or its policy
   * changed): the next acquire() logs in afresh instead of reusing it. Volumes
   * that used it keep it on record, so release() still revokes a pod's token.
   */
  invalidate(entry: CachedToken): void {
    entry.expired();
    if (this.current.get(entry.source.key) === entry) this.current.delete(entry.source.key);
  }

  /** True when `volumeId` is the only volume that used the token. */
  isSoleUser(entry: CachedToken, volumeId: string): boolean {
    return entry.volumes.size === 1 && entry.volumes.has(volumeId);
  }

  /** Forgets the volume; revokes the pod tokens no volume uses any more (which revokes their leases too). */
  async release(volumeId: string, signal: AbortSignal): Promise<void> {
    for (const entry of [...this.inUse]) {
      if (!entry.volumes.delete(volumeId) || entry.volumes.size > 0) continue;
      this.inUse.delete(entry);
      if (!entry.source.revocable) continue;
      if (this.current.get(entry.source.key) === entry) this.current.delete(entry.source.key);
      try {
        await this.api.revokeSelf(entry.token, signal);
        this.logger.debug({ identity: entry.source.description }, 'vault: revoked the token of a released volume');
      } catch (error) {
        // Already expired or revoked: nothing is left to clean up.
        this.logger.debug({ identity: entry.source.description, err: error }, 'vault: could not revoke a token');
      }
    }
  }

  private async refresh(source: TokenSource, stale: CachedToken | undefined, signal: AbortSignal): Promise<CachedToken> {
    const running = this.pending.get(source.key);
    if (running !== undefined) return running;
    const attempt = this.renewOrLogin(source, stale, signal).finally(() => this.pending.delete(source.key));
    this.pending.set(source.key, attempt);
    return attempt;
  }

  private async renewOrLogin(source: TokenSource, stale: CachedToken | undefined, signal: AbortSignal): Promise<CachedToken> {
    if (stale?.renewable === true && stale.expiresAt > this.now()) {
      try {
        if ((await this.renew(stale, signal)) && stale.isFresh(this.now())) return stale;
      } catch (error) {
        if (!(error instanceof KeymountError) || error.code !== 'PERMISSION_DENIED') throw error;
      }
    }
    const grant = await source.obtain(signal);
    const entry = new CachedToken(source, grant.token, grant, this.now());
    this.current.set(source.key, entry);
    this.logger.debug({ identity: source.description, ttlSeconds: grant.ttlSeconds, renewable: grant.renewable }, 'vault: logged in');
    return entry;
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}
