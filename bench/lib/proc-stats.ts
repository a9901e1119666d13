/** What the kernel says about one process: resident memory, open file descriptors, CPU time used. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcessSample {
  readonly rssBytes: number;
  readonly fds: number;
  /** User + system CPU time since the process started. */
  readonly cpuMs: number;
  /** CPU time of its children that have exited (mount and umount commands). */
  readonly childCpuMs: number;
}

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export function sampleProcess(pid: number): ProcessSample {
  return { rssBytes: rssBytes(pid), fds: readdirSync(`/proc/${pid}/fd`).length, ...cpuTimes(pid) };
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

function cpuTimes(pid: number): { cpuMs: number; childCpuMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces:
  // utime, stime, cutime, cstime are fields 14 to 17 of proc(5).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const ms = (first: number): number => (((fields[first] ?? 0) + (fields[first + 1] ?? 0)) * 1000) / CLOCK_TICKS;
  return { cpuMs: ms(11), childCpuMs: ms(13) };
}

export const MiB = 1024 * 1024;

export function formatMiB(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
