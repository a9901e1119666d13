// @ts-check
/* global process, Buffer, console, performance */
// The floor: what one volume costs with no driver at all. A minimal Node
// process does what a publish must do (create the mount directory, mount a
// tmpfs with keymount's flags via mount(8), write the three files) and what an
// unpublish must do (umount(8), remove the directory): no gRPC, no provider,
// no state record, no atomic-writer layout.
// Usage: node floor.mjs TARGETS_JSON CONCURRENCY SIZE_BYTES WARMUP
// The first WARMUP targets are published and unpublished unmeasured (JIT warm-up).
// Prints {"publishMs": [...], "unpublishMs": [...], "publishWallMs": n, "unpublishWallMs": n, "cpuMs": n, "childCpuMs": n}.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const [targetsFile = '', concurrencyText = '1', sizeText = '65536', warmupText = '0'] = process.argv.slice(2);
/** @type {string[]} */
const allTargets = JSON.parse(readFileSync(targetsFile, 'utf8'));
const warmup = allTargets.slice(0, Number(warmupText));
const targets = allTargets.slice(Number(warmupText));
const concurrency = Number(concurrencyText);
// Same sizes as the bench's memory provider.
const FILES = [
  { name: 'ca.crt', contents: Buffer.alloc(615, 'c') },
  { name: 'tls.crt', contents: Buffer.alloc(721, 't') },
  { name: 'tls.key', contents: Buffer.alloc(241, 'k') },
];
const MOUNT_OPTIONS = `nosuid,nodev,noexec,size=${sizeText},mode=0750`;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** @param {string} target */
async function publish(target) {
  await mkdir(target, { mode: 0o750 });
  await run('mount', ['-t', 'tmpfs', '-o', MOUNT_OPTIONS, 'keymount', target]);
  for (const file of FILES) await writeFile(join(target, file.name), file.contents, { mode: 0o440 });
}

/** @param {string} target */
async function unpublish(target) {
  await run('umount', [target]);
  await rmdir(target);
}

/**
 * Runs `operation` over `items` with at most `concurrency` in flight; returns each latency (ms) and the wall time.
 * @param {string[]} items @param {(target: string) => Promise<void>} operation
 */
async function measure(items, operation) {
  /** @type {number[]} */
  const latencies = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < items.length) {
      const target = items[next++] ?? '';
      const begin = performance.now();
      await operation(target);
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, wallMs: performance.now() - started };
}

/** This process's CPU time and that of its exited children (mount, umount), in ms, from proc(5). */
function cpuTimes() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const ms = (/** @type {number} */ first) => (((fields[first] ?? 0) + (fields[first + 1] ?? 0)) * 1000) / CLOCK_TICKS;
  return { cpuMs: ms(11), childCpuMs: ms(13) };
}

await measure(warmup, publish);
await measure(warmup, unpublish);
const before = cpuTimes();
const published = await measure(targets, publish);
const unpublished = await measure(targets, unpublish);
const after = cpuTimes();
console.log(
  JSON.stringify({
    publishMs: published.latencies,
    unpublishMs: unpublished.latencies,
    publishWallMs: published.wallMs,
    unpublishWallMs: unpublished.wallMs,
    cpuMs: after.cpuMs - before.cpuMs,
    childCpuMs: after.childCpuMs - before.childCpuMs,
  }),
);
