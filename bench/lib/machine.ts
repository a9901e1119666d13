/** The machine a benchmark ran on, as RESULTS.md records it. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';

export interface MachineDescription {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memory: string;
  readonly kernel: string;
  readonly node: string;
  readonly mountVersion: string;
}

export function describeMachine(): MachineDescription {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    mountVersion: execFileSync('mount', ['--version'], { encoding: 'utf8' }).trim().split('\n')[0] ?? '',
  };
}

/** The 1-minute load average: how busy the machine was besides the benchmark. */
export function loadAverage(): number {
  return loadavg()[0] ?? Number.NaN;
}
