import type { RefreshOutcome, RenewalOutcome, VolumeMetrics } from '../../src/metrics/volume-metrics.js';

/** A VolumeMetrics that counts what the lifecycle reported, for assertions. */
export class RecordingMetrics implements VolumeMetrics {
  readonly refreshes: Record<RefreshOutcome, number> = { changed: 0, unchanged: 0, failed: 0, skipped: 0 };
  readonly renewals: Record<RenewalOutcome, number> = { renewed: 0, failed: 0 };
  readonly fetches: string[] = [];
  readonly mounted = new Map<string, number>();

  fetchFinished(_provider: string, result: string): void {
    this.fetches.push(result);
  }
  refreshFinished(_provider: string, outcome: RefreshOutcome): void {
    this.refreshes[outcome]++;
  }
  renewalFinished(_provider: string, outcome: RenewalOutcome): void {
    this.renewals[outcome]++;
  }
  setMountedVolumes(provider: string, count: number): void {
    this.mounted.set(provider, count);
  }
  setEarliestExpiry(): void {
    // not asserted here
  }
}
