/**
 * One wake-up timer per volume, for refreshes the driver starts on its own
 * (certificate renewal, retry after a failed renewal). Timers are unref'd:
 * they never keep the process alive, the gRPC server does.
 */

/** setTimeout's longest delay; later wake-ups are reached in steps. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

export class RefreshTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly now: () => Date) {}

  /** Runs `wake` at `at` (or right away if it has passed), replacing any earlier timer of the volume. */
  schedule(volumeId: string, at: Date, wake: () => void): void {
    this.cancel(volumeId);
    const delay = Math.max(0, at.getTime() - this.now().getTime());
    const timer = setTimeout(() => {
      this.timers.delete(volumeId);
      if (delay > MAX_TIMER_DELAY_MS) this.schedule(volumeId, at, wake);
      else wake();
    }, Math.min(delay, MAX_TIMER_DELAY_MS));
    timer.unref();
    this.timers.set(volumeId, timer);
  }

  cancel(volumeId: string): void {
    const timer = this.timers.get(volumeId);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(volumeId);
  }

  cancelAll(): void {
    for (const volumeId of [...this.timers.keys()]) this.cancel(volumeId);
  }

  has(volumeId: string): boolean {
    return this.timers.has(volumeId);
  }
}

/** Exponential backoff after consecutive failures: base, 2×base, 4×base … up to max. */
export function backoffDelayMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}
