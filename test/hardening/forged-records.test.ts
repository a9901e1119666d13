/**
 * Forged state records (issue #11, class 3). A pod that once wrote outside its
 * volume could plant records in keymount's state dir; the next restart (which
 * a pod can provoke) must not let them steer the driver. The records here are
 * copies of a record the driver itself wrote, changed only where an attacker
 * would change them, so they pass any format check a real record passes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDriver, type RunningDriver } from '../../src/driver.js';
import { CsiClient } from '../../src/csi/csi-client.js';
import type { ProviderType } from '../../src/provider/contract.js';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, findmnt, join } from '../helpers/system.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';

/** A mount that is not keymount's: another driver's tmpfs, or something an admin mounted. */
interface Victim {
  readonly path: string;
  /** The mount's source name in the mount table. */
  readonly source: string;
  /** Files on the filesystem below the mount, and on the mount itself. */
  readonly below: Record<string, string>;
  readonly inside: Record<string, string>;
}

function plantVictim(path: string, source: string): Victim {
  mkdirSync(path, { recursive: true });
  const below = { 'under-the-mount': `${source}: data on the node disk\n` };
  for (const [name, content] of Object.entries(below)) writeFileSync(join(path, name), content);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', source, path]);
  const inside = { 'app.db': `${source}: live data\n`, 'config.yaml': 'replicas: 3\n' };
  for (const [name, content] of Object.entries(inside)) writeFileSync(join(path, name), content);
  return { path, source, below, inside };
}

/** Each entry with its content; anything but a regular file (a link or directory the driver made) shows as what it is. */
function filesIn(path: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(path)
      .sort()
      .map((name) => {
        const entry = join(path, name);
        const stat = lstatSync(entry);
        if (stat.isSymbolicLink()) return [name, `symlink to ${readlinkSync(entry)}`];
        return [name, stat.isFile() ? readFileSync(entry, 'utf8') : 'directory or other'];
      }),
  );
}

/** What a user checks on the victim: still mounted from its own source, same files. */
function stateOf(victim: Victim): { source: string | undefined; fstype: string | undefined; files: Record<string, string> | string } {
  const mount = findmnt(victim.path);
  let files: Record<string, string> | string;
  try {
    files = filesIn(victim.path);
  } catch (error) {
    files = String(error);
  }
  return { source: mount?.source, fstype: mount?.fstype, files };
}

const expectedStateOf = (victim: Victim): ReturnType<typeof stateOf> => ({ source: victim.source, fstype: 'tmpfs', files: victim.inside });

describe.skipIf(!IS_ROOT)(`forged state records at start-up (${IS_ROOT ? 'real tmpfs, real restart' : ROOT_REASON})`, () => {
  let harness: Harness;
  const providerTypes: ProviderType[] = [fixedFilesProviderType(() => [{ path: 'tls.key', contents: Buffer.from('key\n') }])];
  /** The driver serving now: the harness's own at first, then each one a test started; undefined when a start failed. */
  let running: { driver: RunningDriver; client: CsiClient } | undefined;
  const victims: Victim[] = [];
  const forgedFiles: string[] = [];

  beforeAll(async () => {
    harness = await startHarness({ providerTypes, providers: { fixed: { type: 'fixed-files', settings: {} } } });
    running = { driver: harness.driver, client: harness.client };
  });
  afterEach(async () => {
    for (const victim of victims.splice(0)) {
      try {
        execFileSync('umount', [victim.path], { stdio: 'ignore' });
      } catch {
        // already unmounted (by the driver, when the test failed)
      }
    }
    // A record a failed test left would meet the next test's start-up.
    for (const file of forgedFiles.splice(0)) rmSync(file, { force: true });
    if (running === undefined) await startAgain();
  });
  afterAll(async () => {
    running?.client.close();
    await running?.driver.stop();
    await harness.stop();
  });

  /** A real record the driver wrote for a real volume, as a template an attacker would copy. */
  async function realRecord(): Promise<Record<string, unknown>> {
    const volume = harness.newVolume('template');
    await serving().client.nodePublishVolume(harness.request(volume, { provider: 'fixed' }));
    const file = join(harness.stateDir, 'volumes', `${createHash('sha256').update(volume.volumeId).digest('hex')}.json`);
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  }

  /** Writes a record as the driver names its files (sha256 of the volume ID). */
  function forgeRecord(template: Record<string, unknown>, volumeId: string, changes: Record<string, unknown>): string {
    const file = join(harness.stateDir, 'volumes', `${createHash('sha256').update(volumeId).digest('hex')}.json`);
    writeFileSync(file, JSON.stringify({ ...template, volumeId, ...changes }), { mode: 0o600 });
    forgedFiles.push(file);
    return file;
  }

  function serving(): { driver: RunningDriver; client: CsiClient } {
    if (running === undefined) throw new Error('no driver is running');
    return running;
  }

  async function startAgain(): Promise<void> {
    const driver = await startDriver(harness.config, {
      providerTypes,
      logDestination: { write: (line: string) => harness.logLines.push(line) },
    });
    running = { driver, client: new CsiClient(harness.socketPath) };
  }

  /**
   * Stops the driver and starts a new one on the same state dir and socket, as a rollout or an OOM kill
   * would; resolves with how the start went, so a start that fails is an assertion, not a crash of the test.
   */
  async function restartDriver(): Promise<string> {
    const { driver, client } = serving();
    running = undefined;
    client.close();
    await driver.stop();
    try {
      await startAgain();
      return 'started';
    } catch (error) {
      return `failed to start: ${String(error)}`;
    }
  }

  it("unmounts and deletes nothing when records in phase publishing point at a node directory and at another driver's mount", async () => {
    const template = await realRecord();
    const outside = plantVictim(join(harness.root, 'node-disk', 'important'), 'admin-tmpfs');
    const otherPod = harness.newVolume('other-driver');
    const otherDriver = plantVictim(otherPod.targetPath, 'other-csi-driver');
    victims.push(outside, otherDriver);
    const interrupted = { phase: 'publishing', createdTargetDir: true, publishedAt: undefined };
    const outsideRecord = forgeRecord(template, 'csi-forged-outside', { ...interrupted, targetPath: outside.path });
    forgeRecord(template, 'csi-forged-other-driver', { ...interrupted, targetPath: otherDriver.path });

    const start = await restartDriver();

    expect({ start, outside: stateOf(outside), otherDriver: stateOf(otherDriver) }).toEqual({
      start: 'started',
      outside: expectedStateOf(outside),
      otherDriver: expectedStateOf(otherDriver),
    });
    await expect(serving().client.probe()).resolves.toBeDefined();
    // A record for a path the kubelet never gives a volume is dropped, not kept for the next start.
    expect(readdirSync(join(harness.stateDir, 'volumes'))).not.toContain(outsideRecord.split('/').at(-1));
    // Below the mounts, the node's files are intact too.
    for (const victim of victims.splice(0)) {
      execFileSync('umount', [victim.path]);
      expect(filesIn(victim.path)).toEqual(victim.below);
    }
  }, 60_000);

  it("writes nothing into, and deletes nothing from, another pod's mount a published record points at", async () => {
    const template = await realRecord();
    const otherPod = harness.newVolume('other-driver');
    const otherDriver = plantVictim(otherPod.targetPath, 'other-csi-driver');
    victims.push(otherDriver);
    // Published, with a renewal long due: a resumed volume refreshes about a second after start-up.
    const due = new Date(Date.now() - 60_000).toISOString();
    forgeRecord(template, 'csi-forged-published', { targetPath: otherDriver.path, phase: 'published', refreshAt: due, versions: {} });

    const start = await restartDriver();
    // Two renewal-timer periods: long enough for a resumed record's refresh to have run.
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    expect({ start, otherDriver: stateOf(otherDriver) }).toEqual({ start: 'started', otherDriver: expectedStateOf(otherDriver) });
    await expect(serving().client.probe()).resolves.toBeDefined();
    execFileSync('umount', [otherDriver.path]);
    victims.splice(0);
    expect(filesIn(otherDriver.path)).toEqual(otherDriver.below);
  }, 60_000);
});
