/**
 * Retries with exponential backoff and jitter, inside the caller's deadline.
 * The SDK's own retries are off (maxAttempts 1) because their backoff sleeps
 * do not listen to the abort signal and can outlast the CSI call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ attempts: 4, baseDelayMs: 200, maxDelayMs: 2_000 });

/**
 * Runs `attempt` until it succeeds, its failure (as mapped by `mapError`) is
 * not UNAVAILABLE, the attempts are used up, or the signal aborts.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  mapError: (error: unknown) => unknown,
  signal: AbortSignal,
  policy: RetryPolicy,
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    signal.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      signal.throwIfAborted();
      const mapped = mapError(error);
      if (!isRetryable(mapped) || attemptNumber >= policy.attempts) throw mapped;
      await sleep(backoff(attemptNumber, policy), undefined, { signal }).catch(() => {
        signal.throwIfAborted();
      });
    }
  }
}

/** "Equal jitter": between half and all of the exponential bound, so retrying volumes do not move in lockstep. */
function backoff(attemptNumber: number, policy: RetryPolicy): number {
  const bound = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attemptNumber - 1));
  return bound / 2 + Math.random() * (bound / 2);
}
