/**
 * The benchmark's knobs. Defaults keep one `npm run bench` to a few minutes
 * on a 2-core machine; the environment can scale them for a quieter machine.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchSettings {
  /** Independent runs (each with a fresh driver); figures are medians over runs. */
  readonly runs: number;
  /** Volumes published then unpublished per provider × concurrency phase. */
  readonly opsPerPhase: number;
  /** Unmeasured publish/unpublish pairs before measuring (JIT warm-up), in the driver and in the floor. */
  readonly warmupOps: number;
  readonly concurrencies: readonly number[];
  /** Volumes mounted at once for the memory, start-up and refresh figures. */
  readonly scaleVolumes: number;
  /** Concurrency of the scale phase's publish, republish and unpublish cycles. */
  readonly scaleConcurrency: number;
  /** Where the JSON and Markdown results go. */
  readonly outPrefix: string;
  /** When set, the driver writes V8 CPU profiles here (node --cpu-prof). */
  readonly cpuProfileDir: string | undefined;
}

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}="${text}" must be a positive integer`);
  return value;
}

export function benchSettings(): BenchSettings {
  return {
    runs: positiveInteger('BENCH_RUNS', 3),
    opsPerPhase: positiveInteger('BENCH_OPS', 200),
    warmupOps: 20,
    concurrencies: [1, 16, 64],
    scaleVolumes: positiveInteger('BENCH_SCALE_VOLUMES', 1000),
    scaleConcurrency: 16,
    outPrefix: process.env.BENCH_OUT ?? join(tmpdir(), `keymount-bench-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    cpuProfileDir: process.env.BENCH_CPU_PROFILE || undefined,
  };
}
