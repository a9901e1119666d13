/**
 * One latency phase: a batch of volumes published with a given number of
 * calls in flight, then unpublished the same way; either through the driver
 * over gRPC or by the floor script (the same mounts and writes, no driver).
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CsiClient } from '../../src/csi/csi-client.js';
import type { StringMap } from '../../src/csi/kubelet-context.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { newPodVolume, publishRequest, type PodVolume } from '../../test/helpers/kubelet.js';
import { timeEach } from './concurrency.js';
import type { DriverProcess } from './driver-process.js';
import { sampleProcess } from './proc-stats.js';
import { summarize, type LatencySummary } from './stats.js';

const run = promisify(execFile);
const FLOOR_SCRIPT = join(PACKAGE_ROOT, 'bench', 'floor.mjs');

export type DriverWorkload = 'memory' | 'local-ca';
export type Workload = 'floor' | DriverWorkload;

/** The volume attributes of each provider under test. */
export const ATTRIBUTES: Readonly<Record<DriverWorkload, StringMap>> = {
  memory: { provider: 'memory' },
  'local-ca': { provider: 'local-ca', 'common-name': 'web.shop.svc', 'dns-names': 'web.shop.svc' },
};

export interface PhaseResult {
  readonly workload: Workload;
  readonly concurrency: number;
  readonly publish: LatencySummary;
  readonly unpublish: LatencySummary;
  /** CPU time per volume (publish + unpublish) of the process doing the work, and of the mount/umount commands it ran. */
  readonly cpuMsPerVolume: number;
  readonly childCpuMsPerVolume: number;
}

interface FloorOutput {
  publishMs: number[];
  unpublishMs: number[];
  publishWallMs: number;
  unpublishWallMs: number;
  cpuMs: number;
  childCpuMs: number;
}

export function podVolumes(kubeletRoot: string, count: number): PodVolume[] {
  return Array.from({ length: count }, (_, index) => newPodVolume(kubeletRoot, `vol-${index}`));
}

export async function runFloorPhase(root: string, concurrency: number, ops: number, warmup: number, sizeBytes: number): Promise<PhaseResult> {
  const kubeletRoot = join(root, `floor-c${concurrency}`);
  const targetsFile = join(root, `floor-c${concurrency}.json`);
  writeFileSync(targetsFile, JSON.stringify(podVolumes(kubeletRoot, warmup + ops).map((volume) => volume.targetPath)));
  const { stdout } = await run(process.execPath, [FLOOR_SCRIPT, targetsFile, String(concurrency), String(sizeBytes), String(warmup)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = JSON.parse(stdout) as FloorOutput;
  rmSync(kubeletRoot, { recursive: true });
  rmSync(targetsFile);
  return {
    workload: 'floor',
    concurrency,
    publish: summarize(output.publishMs, output.publishWallMs),
    unpublish: summarize(output.unpublishMs, output.unpublishWallMs),
    cpuMsPerVolume: output.cpuMs / ops,
    childCpuMsPerVolume: output.childCpuMs / ops,
  };
}

export async function runDriverPhase(
  driver: DriverProcess,
  client: CsiClient,
  root: string,
  workload: DriverWorkload,
  concurrency: number,
  ops: number,
): Promise<PhaseResult> {
  const kubeletRoot = join(root, `${workload}-c${concurrency}`);
  const volumes = podVolumes(kubeletRoot, ops);
  const before = sampleProcess(driver.pid);
  const published = await timeEach(volumes, concurrency, (volume) => client.nodePublishVolume(publishRequest(volume, ATTRIBUTES[workload])));
  expectFiles(volumes[0]);
  const unpublished = await timeEach(volumes, concurrency, (volume) => unpublish(client, volume));
  const after = sampleProcess(driver.pid);
  // Only once all is unpublished: after a failure, the scratch root's cleanup unmounts before it removes.
  rmSync(kubeletRoot, { recursive: true });
  return {
    workload,
    concurrency,
    publish: summarize(published.latenciesMs, published.wallMs),
    unpublish: summarize(unpublished.latenciesMs, unpublished.wallMs),
    cpuMsPerVolume: (after.cpuMs - before.cpuMs) / ops,
    childCpuMsPerVolume: (after.childCpuMs - before.childCpuMs) / ops,
  };
}

/** Unmeasured publish/unpublish pairs through every provider, so the measured phases run on warm code. */
export async function warmUpDriver(client: CsiClient, root: string, count: number): Promise<void> {
  for (const workload of Object.keys(ATTRIBUTES) as DriverWorkload[]) {
    const kubeletRoot = join(root, `warmup-${workload}`);
    const volumes = podVolumes(kubeletRoot, count);
    await timeEach(volumes, 4, (volume) => client.nodePublishVolume(publishRequest(volume, ATTRIBUTES[workload])));
    await timeEach(volumes, 4, (volume) => unpublish(client, volume));
    rmSync(kubeletRoot, { recursive: true });
  }
}

export function unpublish(client: CsiClient, volume: PodVolume): Promise<unknown> {
  return client.nodeUnpublishVolume({ volume_id: volume.volumeId, target_path: volume.targetPath });
}

/** A published volume must show its files: a benchmark of calls that did nothing would be worthless. */
export function expectFiles(volume: PodVolume | undefined): void {
  if (volume === undefined) return;
  if (readFileSync(join(volume.targetPath, 'tls.crt')).length === 0) throw new Error(`${volume.targetPath}/tls.crt is empty`);
}
