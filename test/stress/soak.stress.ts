/**
 * A bounded soak: several kubelet-like clients publish, republish and
 * unpublish 240 volumes at random for 60 s against the real driver running
 * as its own process (real tmpfs, gRPC over its unix socket). Some calls are
 * sent twice at once, as a kubelet retrying a call still pending does, so the
 * driver's ABORTED path is exercised. Afterwards every volume is unpublished
 * and the node must be as before: no mount, no state record, the same file
 * descriptors, and memory that did not keep growing.
 *
 * `npm run test:stress` (vitest.stress.config.ts); it is not part of `npm test`.
 */
import { readFileSync, readdirSync, statfsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsiClient } from '../../src/csi/csi-client.js';
import type { StringMap } from '../../src/csi/kubelet-context.js';
import { startDriverProcess, type DriverProcess } from '../../bench/lib/driver-process.js';
import { podVolumes, unpublish } from '../../bench/lib/latency-phase.js';
import { MiB, formatMiB, sampleProcess } from '../../bench/lib/proc-stats.js';
import { makeScratchRoot, type ScratchRoot } from '../../bench/lib/scratch-root.js';
import { publishRequest, type PodVolume } from '../helpers/kubelet.js';
import { IS_ROOT, ROOT_REASON, exists, join } from '../helpers/system.js';

const VOLUMES = 240;
const CLIENTS = 4;
const WORKERS_PER_CLIENT = 8;
const DURATION_MS = 60_000;
const MAX_OPERATIONS = 50_000;
const SAMPLE_EVERY_MS = 3_000;
/** Memory is compared from this point on: JIT code, pools and caches have grown by then. */
const WARM_UP_MS = 10_000;
const RSS_GROWTH_LIMIT = 50 * MiB;
const FD_SLACK = 3;
/** How often an operation is sent twice at once, as a kubelet retrying a pending call would. */
const DUPLICATE_RATE = 0.2;
const TMPFS_MAGIC = 0x01021994;

const MEMORY: StringMap = { provider: 'memory', refreshInterval: '1s' };
const LOCAL_CA: StringMap = { provider: 'local-ca', 'dns-names': 'web.shop.svc' };

type Operation = 'publish' | 'republish' | 'unpublish' | 'unpublish-absent';

interface SoakVolume {
  readonly volume: PodVolume;
  readonly attributes: StringMap;
  published: boolean;
}

interface Sample {
  readonly atS: number;
  readonly operations: number;
  readonly rssBytes: number;
  /** RSS right after a full garbage collection: live memory, without the saw-tooth of garbage not yet collected. */
  readonly liveRssBytes: number;
  readonly heapUsedBytes: number;
  readonly fds: number;
}

/** A small seeded generator, so a failing mix can be replayed with the printed seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = Math.imul(state ^ (state >>> 15), state | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? (grpc.status[code] ?? String(code)) : 'NOT_A_GRPC_ERROR';
}

describe.skipIf(!IS_ROOT)(`soak: ${VOLUMES} volumes, ${CLIENTS} clients, ${DURATION_MS / 1000} s (${IS_ROOT ? 'real tmpfs, real processes' : ROOT_REASON})`, () => {
  let scratch: ScratchRoot;
  let driver: DriverProcess;
  let clients: CsiClient[] = [];

  beforeAll(async () => {
    scratch = makeScratchRoot('keymount-soak-', { onTmpfs: false });
    driver = await startDriverProcess({
      directory: join(scratch.path, 'driver'),
      providers: {
        // A new version every 5 s: republishes past the 1 s refresh interval swap whole file sets.
        memory: { type: 'memory', minRefreshInterval: '1s', rotateEveryMs: 5000 },
        // The soak publishes the same volume IDs over and over (a kubelet does so rarely); the per-volume issuance
        // limit exists to stop exactly that, so it is raised to its maximum here.
        'local-ca': { type: 'local-ca', maxIssuancesPerMinute: 600 },
      },
    });
    // The path spelled differently per client: grpc-js shares one connection per address, and these are separate clients.
    clients = Array.from({ length: CLIENTS }, (_, index) => new CsiClient(driver.socketPath.replace(/\/csi\.sock$/, `/${'./'.repeat(index)}csi.sock`)));
    await Promise.all(clients.map((client) => client.probe()));
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    // Set unless beforeAll failed before it got there; the cleanup must run either way.
    await (driver as DriverProcess | undefined)?.stop();
    (scratch as ScratchRoot | undefined)?.cleanup();
  });

  it('answers only OK or ABORTED, leaves nothing behind, and keeps descriptors and memory flat', async () => {
    const seed = Date.now() % 1_000_000;
    const next = random(seed);
    const start = sampleProcess(driver.pid);
    const volumes: SoakVolume[] = podVolumes(join(scratch.path, 'kubelet'), VOLUMES).map((volume, index) => ({
      volume,
      attributes: index % 4 === 0 ? LOCAL_CA : MEMORY,
      published: false,
    }));
    const codes = new Map<string, number>();
    const problems: string[] = [];
    const samples: Sample[] = [];
    let operations = 0;
    const started = Date.now();
    const deadline = started + DURATION_MS;
    const sample = async (): Promise<void> => {
      const { rssBytes, fds } = sampleProcess(driver.pid);
      const atS = (Date.now() - started) / 1000;
      const heapUsedBytes = await driver.collectGarbage();
      samples.push({ atS, operations, rssBytes, liveRssBytes: sampleProcess(driver.pid).rssBytes, heapUsedBytes, fds });
    };
    const sampler = setInterval(() => void sample(), SAMPLE_EVERY_MS);

    const call = async (client: CsiClient, target: SoakVolume, operation: Operation): Promise<string> => {
      try {
        if (operation === 'publish' || operation === 'republish') await client.nodePublishVolume(publishRequest(target.volume, target.attributes));
        else await unpublish(client, target.volume);
        return 'OK';
      } catch (error) {
        const code = codeOf(error);
        if (code !== 'ABORTED') problems.push(`${operation} ${target.volume.volumeId}: ${code} ${(error as Error).message}`);
        return code;
      }
    };

    /** What a user would check after the call: a published volume is a tmpfs with its files; an unpublished one is gone. */
    const check = (target: SoakVolume): void => {
      const { targetPath } = target.volume;
      if (!target.published) {
        if (exists(targetPath)) problems.push(`${targetPath} still exists after unpublish`);
        return;
      }
      if (statfsSync(targetPath).type !== TMPFS_MAGIC) problems.push(`${targetPath} is not a tmpfs after publish`);
      else if (readFileSync(join(targetPath, 'tls.crt')).length === 0) problems.push(`${targetPath}/tls.crt is empty`);
    };

    // Each worker owns a fixed set of volumes, so it knows their state; only duplicates of its own calls collide.
    const workerCount = CLIENTS * WORKERS_PER_CLIENT;
    const worker = async (index: number): Promise<void> => {
      const owned = volumes.filter((_, volumeIndex) => volumeIndex % workerCount === index);
      const client = clients[index % CLIENTS] as CsiClient;
      const other = clients[(index + 1) % CLIENTS] as CsiClient;
      while (Date.now() < deadline && operations < MAX_OPERATIONS) {
        const target = owned[Math.floor(next() * owned.length)] as SoakVolume;
        const roll = next();
        const operation: Operation = target.published ? (roll < 0.6 ? 'republish' : 'unpublish') : roll < 0.9 ? 'publish' : 'unpublish-absent';
        const sent = next() < DUPLICATE_RATE ? [call(client, target, operation), call(other, target, operation)] : [call(client, target, operation)];
        const results = await Promise.all(sent);
        operations += sent.length;
        for (const code of results) codes.set(code, (codes.get(code) ?? 0) + 1);
        if (!results.includes('OK')) {
          problems.push(`${operation} ${target.volume.volumeId}: no call answered OK (${results.join(', ')})`);
          continue;
        }
        target.published = operation === 'publish' || operation === 'republish';
        check(target);
      }
    };
    await Promise.all(Array.from({ length: workerCount }, (_, index) => worker(index)));
    clearInterval(sampler);
    await sample();
    const soakSeconds = (Date.now() - started) / 1000;

    // The end of the workload: the kubelet unpublishes every pod's volume.
    for (const target of volumes) {
      if ((await call(clients[0] as CsiClient, target, 'unpublish')) !== 'OK') continue;
      target.published = false;
      check(target);
    }
    const end = sampleProcess(driver.pid);
    await driver.collectGarbage();
    const endCollected = sampleProcess(driver.pid);

    const warm = samples.find((entry) => entry.atS * 1000 >= WARM_UP_MS) ?? samples[0];
    const after = samples.filter((entry) => warm !== undefined && entry.atS >= warm.atS);
    const peakLive = Math.max(...after.map((entry) => entry.liveRssBytes));
    const peakRss = Math.max(...after.map((entry) => entry.rssBytes));
    console.log(
      [
        `soak (seed ${seed}): ${operations} calls in ${soakSeconds.toFixed(0)} s (${(operations / soakSeconds).toFixed(0)}/s) over ${VOLUMES} volumes from ${CLIENTS} clients`,
        `codes: ${JSON.stringify(Object.fromEntries(codes))}`,
        `driver at start: ${formatMiB(start.rssBytes)} RSS, ${start.fds} fds; at end: ${formatMiB(end.rssBytes)} RSS (${formatMiB(endCollected.rssBytes)} after a full GC), ${end.fds} fds`,
        `after warm-up (t=${warm?.atS.toFixed(0)} s): ${formatMiB(warm?.liveRssBytes ?? 0)} live; peak after it: ${formatMiB(peakLive)} live, ${formatMiB(peakRss)} RSS`,
        '   t (s)   calls         RSS    RSS after GC   heap after GC   fds',
        ...samples.map(
          (entry) =>
            `${entry.atS.toFixed(0).padStart(8)} ${String(entry.operations).padStart(7)} ${formatMiB(entry.rssBytes).padStart(11)} ${formatMiB(entry.liveRssBytes).padStart(15)} ${formatMiB(entry.heapUsedBytes).padStart(15)} ${String(entry.fds).padStart(5)}`,
        ),
      ].join('\n'),
    );

    expect(problems.slice(0, 20)).toEqual([]);
    expect([...codes.keys()].filter((code) => code !== 'OK' && code !== 'ABORTED')).toEqual([]);
    expect(codes.get('ABORTED') ?? 0).toBeGreaterThan(0);
    expect(operations).toBeGreaterThan(VOLUMES * 2);
    expect(scratch.mountsInside()).toEqual([]);
    expect(readdirSync(join(driver.stateDir, 'volumes'))).toEqual([]);
    expect(end.fds).toBeLessThanOrEqual(start.fds + FD_SLACK);
    expect(peakLive - (warm?.liveRssBytes ?? peakLive)).toBeLessThan(RSS_GROWTH_LIMIT);
    expect(endCollected.rssBytes - (warm?.liveRssBytes ?? endCollected.rssBytes)).toBeLessThan(RSS_GROWTH_LIMIT);
    expect((await driver.logRecords()).filter((record) => record.level === 'error')).toEqual([]);
  });
});
