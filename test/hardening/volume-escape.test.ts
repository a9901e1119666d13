/**
 * A root container attacking its own volume while the driver refreshes it
 * (issue #11, classes 1 and 2). The attacker is a separate process (a small C
 * program) acting on the volume's target path, as a container sees it through
 * its bind mount: it swaps the driver's fresh data directory for a symlink to
 * a directory on the node (so writes and chowns by path land there), and it
 * swaps a filler tree the driver is deleting for a symlink to a victim (so a
 * deletion by path goes on outside the volume). The renewal timer drives the
 * refreshes; no kubelet call is made while the attack runs. Everything is
 * checked outside the volume: nothing created, chowned or deleted.
 */
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CsiClient } from '../../src/csi/csi-client.js';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, exists, join } from '../helpers/system.js';
import { changingProviderType, ensureAttacker, startAttacker, type RunningAttacker } from './attacker/attacker.js';

/** The group a pod asks for (fsGroup): the driver chowns to it, so a redirected chown would show on the victim. */
const POD_GROUP = '4242';
/** Refreshes that must run while the attacker is active; the timer gives about one a second. */
const REFRESHES_UNDER_ATTACK = 4;
const ATTACK_MAX_MS = 15_000;

interface Ownership {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

function ownershipOf(path: string): Ownership {
  const stat = statSync(path);
  return { uid: stat.uid, gid: stat.gid, mode: stat.mode };
}

/** Every path below a directory with its bytes, to compare before and after. */
function snapshot(directory: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    result[path] = entry.isFile() ? readFileSync(path, 'hex') : entry.isDirectory() ? 'directory' : 'other';
  }
  return result;
}

function kindOf(path: string): 'socket' | 'other' | 'missing' {
  if (!exists(path)) return 'missing';
  return statSync(path).isSocket() ? 'socket' : 'other';
}

describe.skipIf(!IS_ROOT)(`a root container attacking its volume during refreshes (${IS_ROOT ? 'real tmpfs, real attacker process' : ROOT_REASON})`, () => {
  let harness: Harness;
  const changing = changingProviderType(100);
  let attacker: RunningAttacker | undefined;

  beforeAll(async () => {
    ensureAttacker();
    harness = await startHarness({
      providerTypes: [changing.type],
      providers: { changing: { type: 'changing', settings: {} } },
      // A refresh that fails (as the attack may make it) is retried on the next tick, not 10 s later.
      limits: { refreshBackoffBaseMs: 100, refreshBackoffMaxMs: 200 },
    });
  });
  afterEach(() => {
    attacker?.kill();
    attacker = undefined;
  });
  afterAll(async () => {
    await harness.stop();
  });

  /** Waits until the driver has refreshed `count` more times on its own. */
  async function refreshesHappen(count: number): Promise<void> {
    const target = changing.backend.fetches + count;
    await vi.waitFor(
      () => {
        if (changing.backend.fetches < target) throw new Error(`${changing.backend.fetches} of ${target} fetches so far`);
      },
      { timeout: count * 3_000, interval: 50 },
    );
  }

  it('creates nothing in, and chowns nothing of, a node directory the pod swaps in for its fresh data directory', async () => {
    const outside = join(harness.root, 'node-disk', 'var-lib-something');
    mkdirSync(outside, { recursive: true, mode: 0o755 });
    const before = ownershipOf(outside);
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'changing' }, { readOnly: false, mountGroup: POD_GROUP });

    attacker = await startAttacker(['swap', volume.targetPath, outside, String(ATTACK_MAX_MS), '20']);
    await refreshesHappen(REFRESHES_UNDER_ATTACK);
    attacker.stop();
    const report = await attacker.finished;

    // It raced real refreshes: it saw the driver's fresh data directories appear (through the read-only view too).
    expect(report.events).toBeGreaterThan(0);
    expect({ entries: readdirSync(outside), ownership: ownershipOf(outside) }, `attacker: ${JSON.stringify(report)}`).toEqual({
      entries: [],
      ownership: before,
    });
  }, 60_000);

  it("deletes neither another pod's emptyDir nor keymount's own CSI socket when the pod swaps a filler tree for a link during deletion", async () => {
    const emptyDir = join(harness.root, 'other-pod', 'volumes', 'kubernetes.io~empty-dir', 'cache');
    mkdirSync(join(emptyDir, 'nested'), { recursive: true });
    for (let index = 0; index < 5; index++) writeFileSync(join(emptyDir, `entry-${index}`), `other tenant's data ${index}\n`);
    writeFileSync(join(emptyDir, 'nested', 'deep'), 'deeper data\n');
    const emptyDirBefore = snapshot(dirname(emptyDir));
    expect(kindOf(harness.socketPath)).toBe('socket');

    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'changing' }, { readOnly: false, mountGroup: POD_GROUP });
    attacker = await startAttacker(['delete', volume.targetPath, String(ATTACK_MAX_MS), '3000', emptyDir, harness.socketPath]);
    await refreshesHappen(REFRESHES_UNDER_ATTACK);
    attacker.stop();
    const report = await attacker.finished;

    expect({ emptyDir: snapshot(dirname(emptyDir)), csiSocket: kindOf(harness.socketPath) }, `attacker: ${JSON.stringify(report)}`).toEqual({
      emptyDir: emptyDirBefore,
      csiSocket: 'socket',
    });
    // The kubelet's view: the driver still answers on its socket.
    const kubelet = new CsiClient(harness.socketPath);
    try {
      await expect(kubelet.probe()).resolves.toBeDefined();
    } finally {
      kubelet.close();
    }
  }, 60_000);
});
