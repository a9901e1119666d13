/** Turns the runs into the medians, ratios and spreads RESULTS.md reports, as Markdown. */
import type { PhaseResult, Workload } from './latency-phase.js';
import type { MachineDescription } from './machine.js';
import { formatMiB } from './proc-stats.js';
import type { CycleResult, MemorySample, ScaleResult } from './scale-phase.js';
import type { BenchSettings } from './settings.js';
import { median, medianSummary, spread, type LatencySummary } from './stats.js';

export interface RunResult {
  readonly index: number;
  /** 1-minute load average before and after the run: what else the machine was doing. */
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly wallS: number;
  /** A fresh driver with no volumes: spawn to Probe ready. */
  readonly startupMs: number;
  readonly idle: MemorySample;
  readonly phases: readonly PhaseResult[];
  readonly scale: ScaleResult;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly machine: MachineDescription;
  readonly settings: BenchSettings;
  readonly runs: readonly RunResult[];
}

const WORKLOADS: readonly Workload[] = ['floor', 'memory', 'local-ca'];

const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const percent = (fraction: number): string => `${(fraction * 100).toFixed(0)} %`;
const ratio = (value: number): string => `${value.toFixed(2)}×`;
const table = (header: readonly string[], rows: readonly (readonly string[])[]): string =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');

function phasesOf(report: BenchReport, workload: Workload, concurrency: number): PhaseResult[] {
  return report.runs.flatMap((run) => run.phases.filter((phase) => phase.workload === workload && phase.concurrency === concurrency));
}

/** Per run, the driver's figure over the floor's of the same run; the median of those. */
function ratioToFloor(report: BenchReport, workload: Workload, concurrency: number, pick: (phase: PhaseResult) => number): number {
  const ratios = report.runs.flatMap((run) => {
    const floor = run.phases.find((phase) => phase.workload === 'floor' && phase.concurrency === concurrency);
    const driver = run.phases.find((phase) => phase.workload === workload && phase.concurrency === concurrency);
    return floor && driver ? [pick(driver) / pick(floor)] : [];
  });
  return median(ratios);
}

function latencyTable(report: BenchReport): string {
  const rows: string[][] = [];
  for (const concurrency of report.settings.concurrencies) {
    for (const workload of WORKLOADS) {
      const phases = phasesOf(report, workload, concurrency);
      const cells = (pick: (phase: PhaseResult) => LatencySummary): string[] => {
        const summary = medianSummary(phases.map(pick));
        return [ms(summary.p50), ms(summary.p90), ms(summary.p99), summary.throughput.toFixed(0)];
      };
      rows.push([
        workload,
        String(concurrency),
        ...cells((phase) => phase.publish),
        ...cells((phase) => phase.unpublish),
        percent(spread(phases.map((phase) => phase.publish.p50))),
      ]);
    }
  }
  return table(
    ['workload', 'conc.', 'publish p50', 'p90', 'p99', 'ops/s', 'unpublish p50', 'p90', 'p99', 'ops/s', 'publish p50 spread'],
    rows,
  );
}

function ratioTable(report: BenchReport): string {
  const rows: string[][] = [];
  for (const concurrency of report.settings.concurrencies) {
    for (const workload of WORKLOADS) {
      const phases = phasesOf(report, workload, concurrency);
      const cpu = median(phases.map((phase) => phase.cpuMsPerVolume));
      const childCpu = median(phases.map((phase) => phase.childCpuMsPerVolume));
      if (workload === 'floor') {
        rows.push([workload, String(concurrency), '1', '1', '1', '1', ms(cpu), ms(childCpu)]);
        continue;
      }
      rows.push([
        workload,
        String(concurrency),
        ratio(ratioToFloor(report, workload, concurrency, (phase) => phase.publish.p50)),
        ratio(ratioToFloor(report, workload, concurrency, (phase) => phase.unpublish.p50)),
        ratio(ratioToFloor(report, workload, concurrency, (phase) => phase.publish.p50 + phase.unpublish.p50)),
        ratio(1 / ratioToFloor(report, workload, concurrency, (phase) => phase.publish.throughput + phase.unpublish.throughput)),
        ms(cpu),
        ms(childCpu),
      ]);
    }
  }
  return table(
    ['workload', 'conc.', 'publish p50 ÷ floor', 'unpublish p50 ÷ floor', '(publish + unpublish) p50 ÷ floor', 'floor ops/s ÷ ops/s', 'CPU ms / volume', 'mount cmds CPU ms / volume'],
    rows,
  );
}

function scaleTable(report: BenchReport): string {
  const scales = report.runs.map((run) => run.scale);
  const volumes = scales[0]?.volumes ?? 0;
  const of = (pick: (scale: ScaleResult) => number): number => median(scales.map(pick));
  const sample = (pick: (scale: ScaleResult) => MemorySample): string =>
    `${formatMiB(of((scale) => pick(scale).rssBytes))} (heap ${formatMiB(of((scale) => pick(scale).heapUsedBytes))}), ${of((scale) => pick(scale).fds).toFixed(0)} fds`;
  const sampleAt = (index: number) => (scale: ScaleResult): MemorySample =>
    scale.samples[index] ?? { volumes: 0, rssBytes: Number.NaN, heapUsedBytes: Number.NaN, fds: Number.NaN };
  const spreadOf = (pick: (scale: ScaleResult) => number): string => percent(spread(scales.map(pick)));
  const idle = (pick: (run: RunResult) => number): number => median(report.runs.map(pick));
  return table(
    ['figure', 'median', 'spread'],
    [
      ['start-up to ready, no volumes', `${ms(idle((run) => run.startupMs))} ms`, percent(spread(report.runs.map((run) => run.startupMs)))],
      [`start-up to ready, ${volumes} volumes to resume`, `${ms(of((scale) => scale.restartMs))} ms`, spreadOf((scale) => scale.restartMs)],
      [
        'RSS idle (fresh driver), open fds',
        `${formatMiB(idle((run) => run.idle.rssBytes))} (heap ${formatMiB(idle((run) => run.idle.heapUsedBytes))}), ${idle((run) => run.idle.fds).toFixed(0)} fds`,
        percent(spread(report.runs.map((run) => run.idle.rssBytes))),
      ],
      ['RSS after the latency phases, 0 volumes', sample(sampleAt(0)), spreadOf((scale) => sampleAt(0)(scale).rssBytes)],
      [`RSS with ${Math.floor(volumes / 5)} volumes`, sample(sampleAt(1)), spreadOf((scale) => sampleAt(1)(scale).rssBytes)],
      [`RSS with ${volumes} volumes`, sample(sampleAt(2)), spreadOf((scale) => sampleAt(2)(scale).rssBytes)],
      ['RSS per mounted volume (slope)', `${(of((scale) => scale.perVolumeBytes) / 1024).toFixed(1)} KiB`, spreadOf((scale) => scale.perVolumeBytes)],
      ['V8 heap per mounted volume (slope)', `${(of((scale) => scale.perVolumeHeapBytes) / 1024).toFixed(1)} KiB`, spreadOf((scale) => scale.perVolumeHeapBytes)],
      [`RSS after a restart with ${volumes} resumed`, sample((scale) => scale.afterRestart), spreadOf((scale) => scale.afterRestart.rssBytes)],
      [`RSS after unpublishing all ${volumes}`, sample((scale) => scale.afterUnpublish), spreadOf((scale) => scale.afterUnpublish.rssBytes)],
      [`publish ${volumes} volumes (conc. ${report.settings.scaleConcurrency})`, `${ms(of((scale) => scale.publishWallMs) / 1000)} s`, spreadOf((scale) => scale.publishWallMs)],
      [`unpublish ${volumes} volumes (conc. ${report.settings.scaleConcurrency})`, `${ms(of((scale) => scale.unpublishWallMs) / 1000)} s`, spreadOf((scale) => scale.unpublishWallMs)],
    ],
  );
}

function refreshTable(report: BenchReport): string {
  const scales = report.runs.map((run) => run.scale);
  const volumes = scales[0]?.volumes ?? 0;
  const row = (label: string, pick: (scale: ScaleResult) => CycleResult): string[] => {
    const of = (value: (cycle: CycleResult) => number): number => median(scales.map((scale) => value(pick(scale))));
    return [
      label,
      `${ms(of((cycle) => cycle.wallMs) / 1000)} s`,
      of((cycle) => cycle.calls.throughput).toFixed(0),
      ms(of((cycle) => cycle.calls.p50)),
      ms(of((cycle) => cycle.calls.p99)),
      ms(of((cycle) => cycle.driverCpuMs)),
      (of((cycle) => cycle.driverCpuMs) / volumes).toFixed(2),
      of((cycle) => cycle.refreshed).toFixed(0),
      percent(spread(scales.map((scale) => pick(scale).wallMs))),
    ];
  };
  return table(
    ['republish cycle', 'wall', 'calls/s', 'p50 ms', 'p99 ms', 'driver CPU ms', 'CPU ms / volume', 'refreshes', 'wall spread'],
    [row(`${volumes} volumes, refresh not due`, (scale) => scale.notDue), row(`${volumes} volumes, refresh due, provider UNCHANGED`, (scale) => scale.due)],
  );
}

export function renderMarkdown(report: BenchReport): string {
  const { machine, settings } = report;
  const loads = report.runs.map((run) => `${run.loadBefore.toFixed(2)} → ${run.loadAfter.toFixed(2)}`).join('; ');
  return [
    `### Run of ${report.startedAt}`,
    '',
    `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memory} RAM, kernel ${machine.kernel}, Node ${machine.node}, ${machine.mountVersion}.`,
    `${settings.runs} runs × ${settings.opsPerPhase} volumes per phase (after ${settings.warmupOps} warm-up volumes), ` +
      `${settings.scaleVolumes} volumes in the scale phase; medians over runs; spread = (max − min) ÷ median over runs.`,
    `1-minute load average before → after each run: ${loads}. Run wall times: ${report.runs.map((run) => `${run.wallS.toFixed(0)} s`).join(', ')}.`,
    '',
    '#### Latency (ms) and throughput',
    '',
    latencyTable(report),
    '',
    '#### The driver against the floor',
    '',
    ratioTable(report),
    '',
    '#### Memory and start-up',
    '',
    scaleTable(report),
    '',
    '#### Refresh cost',
    '',
    refreshTable(report),
    '',
  ].join('\n');
}
