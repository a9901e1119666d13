/** Latency percentiles, medians and run-to-run spread. */

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** Completed operations per second over the phase's wall time. */
  readonly throughput: number;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2;
}

/** (max − min) / median: how far apart the runs were, as a fraction. */
export function spread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  return (Math.max(...values) - Math.min(...values)) / median(values);
}

export function summarize(latenciesMs: readonly number[], wallMs: number): LatencySummary {
  return {
    count: latenciesMs.length,
    p50: percentile(latenciesMs, 50),
    p90: percentile(latenciesMs, 90),
    p99: percentile(latenciesMs, 99),
    throughput: (latenciesMs.length * 1000) / wallMs,
  };
}

/** The median of each field over several runs' summaries. */
export function medianSummary(runs: readonly LatencySummary[]): LatencySummary {
  const of = (pick: (summary: LatencySummary) => number): number => median(runs.map(pick));
  return {
    count: of((run) => run.count),
    p50: of((run) => run.p50),
    p90: of((run) => run.p90),
    p99: of((run) => run.p99),
    throughput: of((run) => run.throughput),
  };
}
