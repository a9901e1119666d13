/**
 * Per-volume issuance rate limit: a token bucket per volume ID, holding at
 * most `maxPerMinute` issuances and refilled at that rate. A pod that asks
 * for certificates renewed every second (a short duration, or a renew-before
 * close to the duration) gets a few, then one every 60/maxPerMinute seconds.
 *
 * When the bucket is empty, a renewal of a volume that already holds a
 * certificate is deferred (the provider answers UNCHANGED with the time a
 * token comes back, and the core's timer waits until then); a volume that
 * holds none gets RESOURCE_EXHAUSTED saying when to retry.
 */
import { resourceExhausted, type Clock, type FetchRequest, type Unchanged } from '../../src/provider/contract.js';
import { CERTIFICATE_VERSION_KEY } from './renewal.js';

export const DEFAULT_MAX_ISSUANCES_PER_MINUTE = 4;
/** The bounds of the per-instance setting. */
export const MAX_ISSUANCES_PER_MINUTE_RANGE = { min: 1, max: 600 } as const;

const MINUTE_MS = 60_000;
/** Buckets of released volumes stay until they are full again; past this many, full ones are dropped. */
const PRUNE_ABOVE = 1024;

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

export class IssuanceLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly msPerToken: number;

  constructor(
    readonly maxPerMinute: number,
    private readonly clock: Clock,
  ) {
    this.msPerToken = MINUTE_MS / maxPerMinute;
  }

  /**
   * Takes one issuance for the volume: undefined when it may issue now, else
   * when it may next (nothing is taken then).
   */
  take(volumeId: string): Date | undefined {
    const nowMs = this.clock.now().getTime();
    if (this.buckets.size > PRUNE_ABOVE) this.prune(nowMs);
    const bucket = this.refilled(this.buckets.get(volumeId), nowMs);
    this.buckets.set(volumeId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return new Date(nowMs + Math.ceil((1 - bucket.tokens) * this.msPerToken));
  }

  /** How many volumes have a bucket (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(bucket: Bucket | undefined, nowMs: number): Bucket {
    if (bucket === undefined) return { tokens: this.maxPerMinute, updatedAtMs: nowMs };
    const earnedMs = Math.max(0, nowMs - bucket.updatedAtMs);
    return { tokens: Math.min(this.maxPerMinute, bucket.tokens + earnedMs / this.msPerToken), updatedAtMs: nowMs };
  }

  /**
   * Drops buckets that have refilled completely: forgetting them changes
   * nothing. (A bucket is not dropped when its volume is released: a volume
   * ID the kubelet publishes again must not start with a fresh one.)
   */
  private prune(nowMs: number): void {
    for (const [volumeId, bucket] of this.buckets) {
      if (this.refilled(bucket, nowMs).tokens >= this.maxPerMinute) this.buckets.delete(volumeId);
    }
  }
}

/** What the instance tells pods about its limit. */
export interface LimitDescription {
  /** e.g. `local-ca instance "shared"`. */
  readonly instance: string;
  /** The setting's name, for the admin. */
  readonly setting: string;
  readonly maxPerMinute: number;
}

/**
 * Applies the limit to a fetch that is about to issue: undefined when it may,
 * UNCHANGED with the retry time as refreshAt when the volume holds a
 * certificate (the renewal is deferred), else throws RESOURCE_EXHAUSTED.
 */
export function checkIssuanceRate(
  limiter: IssuanceLimiter,
  request: Pick<FetchRequest<unknown>, 'volumeId' | 'previousVersions'>,
  limit: LimitDescription,
): Unchanged | undefined {
  const retryAt = limiter.take(request.volumeId);
  if (retryAt === undefined) return undefined;
  if (request.previousVersions[CERTIFICATE_VERSION_KEY] !== undefined) return { unchanged: true, refreshAt: retryAt };
  throw resourceExhausted(
    `too many certificates for this volume: ${limit.instance} issues at most ${limit.maxPerMinute} per minute per volume ` +
      `(setting "${limit.setting}"); retry after ${retryAt.toISOString()}`,
  );
}
