/**
 * The scale phase: many volumes mounted at once. Measures what each mounted
 * volume costs in memory, what a kubelet republish cycle over all of them
 * costs when nothing is due and when every refresh is due but the provider
 * answers UNCHANGED, and how long a restarted driver takes to be ready again
 * with all of them to resume.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CsiClient } from '../../src/csi/csi-client.js';
import { publishRequest, type PodVolume } from '../../test/helpers/kubelet.js';
import { sleep, timeEach } from './concurrency.js';
import type { DriverProcess } from './driver-process.js';
import { podVolumes, unpublish } from './latency-phase.js';
import { sampleProcess } from './proc-stats.js';
import { summarize, type LatencySummary } from './stats.js';

export interface MemorySample {
  readonly volumes: number;
  readonly rssBytes: number;
  /** V8 heap in use after a full garbage collection: what the driver's own data takes. */
  readonly heapUsedBytes: number;
  readonly fds: number;
}

export interface CycleResult {
  readonly calls: LatencySummary;
  readonly wallMs: number;
  /** CPU time the driver spent on the whole cycle (its mount commands included). */
  readonly driverCpuMs: number;
  /** Refreshes the driver logged during the cycle, and how many of them were "unchanged". */
  readonly refreshed: number;
  readonly unchanged: number;
}

export interface ScaleResult {
  readonly volumes: number;
  readonly publishWallMs: number;
  /** Before the first publish, at a fifth of the volumes, and with all of them. */
  readonly samples: readonly MemorySample[];
  /** RSS growth per mounted volume between the last two samples (fixed warm-up costs excluded). */
  readonly perVolumeBytes: number;
  /** The same for the V8 heap in use after a full garbage collection (far less noisy than RSS). */
  readonly perVolumeHeapBytes: number;
  readonly notDue: CycleResult;
  readonly due: CycleResult;
  /** A restarted driver: spawn to Probe ready, with every volume's record to resume. */
  readonly restartMs: number;
  readonly resumed: number;
  readonly afterRestart: MemorySample;
  readonly unpublishWallMs: number;
  readonly afterUnpublish: MemorySample;
}

export interface ScaleOptions {
  readonly root: string;
  readonly volumes: number;
  readonly concurrency: number;
  /** The volumes' refreshInterval: longer than publishing them all plus one republish cycle takes. */
  readonly refreshIntervalMs: number;
}

const REFRESHED = 'volume refreshed';

export async function runScalePhase(
  options: ScaleOptions,
  current: () => DriverProcess,
  restart: () => Promise<DriverProcess>,
): Promise<ScaleResult> {
  const kubeletRoot = join(options.root, 'scale');
  const attributes = { provider: 'memory', refreshInterval: `${options.refreshIntervalMs}ms` };
  const volumes = podVolumes(kubeletRoot, options.volumes);
  const publish = (volume: PodVolume): Promise<unknown> => client.nodePublishVolume(publishRequest(volume, attributes));
  let client = new CsiClient(current().socketPath);
  try {
    const samples = [await memorySample(current(), 0)];
    const fifth = Math.floor(options.volumes / 5);
    const firstPart = await timeEach(volumes.slice(0, fifth), options.concurrency, publish);
    samples.push(await memorySample(current(), fifth));
    const secondPart = await timeEach(volumes.slice(fifth), options.concurrency, publish);
    const publishedAt = Date.now();
    const publishWallMs = firstPart.wallMs + secondPart.wallMs;

    const notDue = await republishCycle(current(), volumes, options.concurrency, publish);
    if (notDue.refreshed !== 0) {
      throw new Error(`${notDue.refreshed} volumes refreshed in the "not due" cycle: raise the refresh interval above ${options.refreshIntervalMs} ms`);
    }
    samples.push(await memorySample(current(), options.volumes));
    await sleep(publishedAt + options.refreshIntervalMs + 500 - Date.now());
    const due = await republishCycle(current(), volumes, options.concurrency, publish);
    if (due.unchanged !== options.volumes) throw new Error(`${due.unchanged} of ${options.volumes} volumes refreshed as unchanged in the "due" cycle`);

    client.close();
    const restarted = await restart();
    client = new CsiClient(restarted.socketPath);
    const resumedRecord = (await restarted.logRecords()).find((record) => record.msg === 'resumed the volumes of an earlier run');
    const afterRestart = await memorySample(restarted, options.volumes);

    const unpublished = await timeEach(volumes, options.concurrency, (volume) => unpublish(client, volume));
    const afterUnpublish = await memorySample(restarted, 0);
    const left = readdirSync(join(restarted.stateDir, 'volumes')).length;
    if (left !== 0) throw new Error(`${left} state records left after unpublishing every volume`);

    rmSync(kubeletRoot, { recursive: true });
    const [, atFifth, atAll] = samples;
    return {
      volumes: options.volumes,
      publishWallMs,
      samples,
      perVolumeBytes: atFifth && atAll ? (atAll.rssBytes - atFifth.rssBytes) / (atAll.volumes - atFifth.volumes) : Number.NaN,
      perVolumeHeapBytes: atFifth && atAll ? (atAll.heapUsedBytes - atFifth.heapUsedBytes) / (atAll.volumes - atFifth.volumes) : Number.NaN,
      notDue,
      due,
      restartMs: restarted.startupMs,
      resumed: typeof resumedRecord?.resumed === 'number' ? resumedRecord.resumed : 0,
      afterRestart,
      unpublishWallMs: unpublished.wallMs,
      afterUnpublish,
    };
  } finally {
    client.close();
  }
}

/** One kubelet-style republish of every volume, with what the driver logged and spent on it. */
async function republishCycle(
  driver: DriverProcess,
  volumes: readonly PodVolume[],
  concurrency: number,
  publish: (volume: PodVolume) => Promise<unknown>,
): Promise<CycleResult> {
  const logged = (await driver.logRecords()).length;
  const before = sampleProcess(driver.pid);
  const cycle = await timeEach(volumes, concurrency, publish);
  const after = sampleProcess(driver.pid);
  const refreshes = (await driver.logRecords())
    .slice(logged)
    .filter((record) => record.msg === REFRESHED);
  return {
    calls: summarize(cycle.latenciesMs, cycle.wallMs),
    wallMs: cycle.wallMs,
    driverCpuMs: after.cpuMs + after.childCpuMs - before.cpuMs - before.childCpuMs,
    refreshed: refreshes.length,
    unchanged: refreshes.filter((record) => record.outcome === 'unchanged').length,
  };
}

/** RSS, heap and open descriptors right after a full garbage collection. */
export async function memorySample(driver: DriverProcess, volumes: number): Promise<MemorySample> {
  const heapUsedBytes = await driver.collectGarbage();
  const { rssBytes, fds } = sampleProcess(driver.pid);
  return { volumes, rssBytes, heapUsedBytes, fds };
}
