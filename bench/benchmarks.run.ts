/**
 * `npm run bench`: keymount's real driver as its own process, called over
 * gRPC on a unix socket exactly as the kubelet calls it, mounting real tmpfs,
 * measured against a floor (the same mounts and writes by a minimal script)
 * in the same run. Writes <prefix>.json and <prefix>.md (see bench/lib/settings.ts)
 * and prints the Markdown; bench/RESULTS.md discusses it.
 *
 * This is a vitest file only so that it runs typed, with the test helpers;
 * it asserts nothing about speed, only that every call did what it should.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CsiClient } from '../src/csi/csi-client.js';
import { IS_ROOT, ROOT_REASON } from '../test/helpers/system.js';
import { startDriverProcess, type DriverProcess, type DriverProcessOptions } from './lib/driver-process.js';
import { ATTRIBUTES, runDriverPhase, runFloorPhase, warmUpDriver, type PhaseResult } from './lib/latency-phase.js';
import { describeMachine, loadAverage } from './lib/machine.js';
import { renderMarkdown, type BenchReport, type RunResult } from './lib/report.js';
import { memorySample, runScalePhase } from './lib/scale-phase.js';
import { makeScratchRoot } from './lib/scratch-root.js';
import { benchSettings, type BenchSettings } from './lib/settings.js';

const VOLUME_SIZE = '64Ki';
const VOLUME_SIZE_BYTES = 64 * 1024;
/** Longer than publishing the scale phase's volumes plus one republish cycle takes, so that cycle finds nothing due. */
const SCALE_REFRESH_INTERVAL_MS = 30_000;

async function oneRun(settings: BenchSettings, index: number): Promise<RunResult> {
  const started = performance.now();
  const loadBefore = loadAverage();
  const scratch = makeScratchRoot('keymount-bench-', { onTmpfs: true });
  const driverOptions: DriverProcessOptions = {
    directory: join(scratch.path, 'driver'),
    providers: { memory: { type: 'memory', minRefreshInterval: '1s' }, 'local-ca': { type: 'local-ca' } },
    maxVolumeSize: VOLUME_SIZE,
    nodeFlags: settings.cpuProfileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfileDir}`] : [],
  };
  let driver: DriverProcess | undefined;
  let client: CsiClient | undefined;
  try {
    driver = await startDriverProcess(driverOptions);
    const startupMs = driver.startupMs;
    const idle = await memorySample(driver, 0);
    client = new CsiClient(driver.socketPath);
    await warmUpDriver(client, scratch.path, settings.warmupOps);

    const phases: PhaseResult[] = [];
    for (const concurrency of settings.concurrencies) {
      phases.push(await runFloorPhase(scratch.path, concurrency, settings.opsPerPhase, settings.warmupOps, VOLUME_SIZE_BYTES));
      for (const workload of Object.keys(ATTRIBUTES) as (keyof typeof ATTRIBUTES)[]) {
        phases.push(await runDriverPhase(driver, client, scratch.path, workload, concurrency, settings.opsPerPhase));
      }
      expect(scratch.mountsInside()).toEqual([]);
    }
    client.close();
    client = undefined;

    const scale = await runScalePhase(
      { root: scratch.path, volumes: settings.scaleVolumes, concurrency: settings.scaleConcurrency, refreshIntervalMs: SCALE_REFRESH_INTERVAL_MS },
      () => driver as DriverProcess,
      async () => {
        await driver?.stop();
        driver = await startDriverProcess(driverOptions);
        return driver;
      },
    );
    expect(scale.resumed).toBe(settings.scaleVolumes);
    expect(scratch.mountsInside()).toEqual([]);
    const errors = (await driver.logRecords()).filter((record) => record.level === 'error');
    expect(errors).toEqual([]);
    return { index, loadBefore, loadAfter: loadAverage(), wallS: (performance.now() - started) / 1000, startupMs, idle, phases, scale };
  } finally {
    client?.close();
    await driver?.stop();
    scratch.cleanup();
  }
}

describe.skipIf(!IS_ROOT)(`keymount benchmarks (${IS_ROOT ? 'real tmpfs, real processes, gRPC over a unix socket' : ROOT_REASON})`, () => {
  it('measures publish/unpublish latency against the floor, memory, start-up and refresh cost', async () => {
    const settings = benchSettings();
    const report: BenchReport = { startedAt: new Date().toISOString(), machine: describeMachine(), settings, runs: [] };
    const runs: RunResult[] = [];
    for (let index = 0; index < settings.runs; index++) {
      runs.push(await oneRun(settings, index));
      console.log(`bench: run ${index + 1} of ${settings.runs} done in ${runs.at(-1)?.wallS.toFixed(0)} s`);
    }
    const final = { ...report, runs };
    const markdown = renderMarkdown(final);
    writeFileSync(`${settings.outPrefix}.json`, JSON.stringify(final, null, 2));
    writeFileSync(`${settings.outPrefix}.md`, markdown);
    console.log(`${markdown}\nbench: results in ${settings.outPrefix}.json and ${settings.outPrefix}.md`);
  });
});
