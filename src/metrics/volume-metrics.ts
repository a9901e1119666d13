/**
 * What the volume lifecycle reports for monitoring. The volume manager calls
 * this interface; the Prometheus implementation lives beside it, and tests or
 * a driver without --metrics-addr use NO_METRICS.
 */
export type RefreshOutcome = 'changed' | 'unchanged' | 'failed' | 'skipped';
export type RenewalOutcome = 'renewed' | 'failed';

export interface VolumeMetrics {
  /** One provider fetch, by provider instance and result ("ok" or a gRPC code name). */
  fetchFinished(provider: string, result: string, seconds: number): void;
  /** A republish- or timer-driven refresh. */
  refreshFinished(provider: string, outcome: RefreshOutcome): void;
  /** A timer-driven certificate renewal. */
  renewalFinished(provider: string, outcome: RenewalOutcome): void;
  /** Volumes currently published by this driver, by provider instance. */
  setMountedVolumes(provider: string, count: number): void;
  /** Seconds until the soonest certificate expiry among a provider instance's volumes (bounded cardinality: one series per instance). */
  setEarliestExpiry(provider: string, secondsFromNow: number | undefined): void;
}

export const NO_METRICS: VolumeMetrics = Object.freeze({
  fetchFinished: () => undefined,
  refreshFinished: () => undefined,
  renewalFinished: () => undefined,
  setMountedVolumes: () => undefined,
  setEarliestExpiry: () => undefined,
});
