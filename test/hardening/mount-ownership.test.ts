/**
 * The volume's mount belongs to keymount alone (issue #11, classes 1 and 7):
 * the pod gets it read-only whatever `readOnly` says, so a root container
 * cannot change anything in it; a renewal never writes through a path whose
 * mount has gone (the private key would land on the node's disk); and a
 * second volume ID cannot take over a target that already holds a volume.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { relative } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errnoCode } from '../../src/errors.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, findmnt, join, mountsUnder } from '../helpers/system.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';
import { SECRET_MARKER, changingProviderType } from './attacker/attacker.js';

/** What a call did: 'ok', or the errno code it failed with. */
function outcomeOf(action: () => unknown): string {
  try {
    action();
    return 'ok';
  } catch (error) {
    return errnoCode(error) ?? String(error);
  }
}

/**
 * The node disk below `root` as it is, without anything mounted on it: a non-recursive bind mount of `root`
 * shows the directories that mounts (a target, a private mount) cover, with whatever was written into them.
 */
function onNodeDisk<Result>(root: string, look: (diskRoot: string) => Result): Result {
  const peek = mkdtempSync(join(tmpdir(), 'keymount-peek-'));
  execFileSync('mount', ['--bind', '-o', 'ro', root, peek]);
  try {
    return look(peek);
  } finally {
    execFileSync('umount', [peek]);
    rmdirSync(peek);
  }
}

/** Files below `root` on the node disk that hold the provider's content, relative to `root`. */
function secretsOnDisk(root: string): string[] {
  return onNodeDisk(root, (diskRoot) => {
    const found: string[] = [];
    const walk = (directory: string): void => {
      for (const name of readdirSync(directory)) {
        const path = join(directory, name);
        const stat = lstatSync(path);
        if (stat.isDirectory()) walk(path);
        else if (stat.isFile() && stat.size < 1 << 20 && readFileSync(path).includes(SECRET_MARKER)) found.push(relative(diskRoot, path));
      }
    };
    walk(diskRoot);
    return found;
  });
}

/** What is in a directory on the node disk itself, below whatever is mounted on it now. */
function entriesOnDisk(root: string, directory: string): string[] {
  return onNodeDisk(root, (diskRoot) => readdirSync(join(diskRoot, relative(root, directory))).sort());
}

function contentsOf(root: string, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, readFileSync(join(root, name), 'utf8')]));
}

describe.skipIf(!IS_ROOT)(`the volume's mount is keymount's own (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  const changing = changingProviderType(3);
  const fixedFiles = [
    { path: 'tls.key', contents: Buffer.from(`-----BEGIN PRIVATE KEY-----\n${SECRET_MARKER} fixed\n-----END PRIVATE KEY-----\n`) },
    { path: 'ca.crt', contents: Buffer.from('-----BEGIN CERTIFICATE-----\nfixed\n-----END CERTIFICATE-----\n') },
  ];

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [changing.type, fixedFilesProviderType(() => fixedFiles)],
      providers: { changing: { type: 'changing', settings: {} }, fixed: { type: 'fixed-files', settings: {} } },
      limits: { refreshBackoffBaseMs: 100, refreshBackoffMaxMs: 200 },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  /**
   * Lets the renewal timer fire `count` times (about a second apart). A driver that notices the lost mount may
   * fail the refresh before it fetches, so this waits for the fetches or for the time they take, whichever comes first.
   */
  async function letRenewalsRun(count: number): Promise<void> {
    const target = changing.backend.fetches + count;
    const deadline = Date.now() + count * 1_500;
    while (changing.backend.fetches < target && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  it('serves a volume published with readOnly false read-only: a root process can change nothing in it', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' }, { readOnly: false, mountGroup: '4242' });
    const target = volume.targetPath;
    const names = readdirSync(target).filter((name) => !name.startsWith('..')).sort();
    expect(names).toEqual(['ca.crt', 'tls.key']);
    const before = contentsOf(target, names);
    const dataDir = join(target, '..data');

    const attempts = {
      createInRoot: outcomeOf(() => {
        writeFileSync(join(target, 'planted'), 'x');
      }),
      mkdirInRoot: outcomeOf(() => {
        mkdirSync(join(target, '..2099_planted'));
      }),
      symlinkInRoot: outcomeOf(() => {
        symlinkSync('/etc', join(target, 'planted-link'));
      }),
      renameVisibleName: outcomeOf(() => {
        renameSync(join(target, 'tls.key'), join(target, 'moved'));
      }),
      replaceDataLink: outcomeOf(() => {
        renameSync(join(target, 'ca.crt'), join(target, '..data'));
      }),
      unlinkVisibleName: outcomeOf(() => {
        unlinkSync(join(target, 'ca.crt'));
      }),
      truncateDataFile: outcomeOf(() => {
        closeSync(openSync(join(dataDir, 'tls.key'), constants.O_WRONLY | constants.O_TRUNC));
      }),
      createInDataDir: outcomeOf(() => {
        writeFileSync(join(dataDir, 'planted'), 'x');
      }),
      unlinkInDataDir: outcomeOf(() => {
        unlinkSync(join(dataDir, 'ca.crt'));
      }),
      removeDataDir: outcomeOf(() => {
        rmdirSync(dataDir);
      }),
    };
    const expected = Object.fromEntries(Object.keys(attempts).map((name) => [name, 'EROFS']));
    expect(attempts).toEqual(expected);
    expect(findmnt(target)?.options.split(',')).toContain('ro');
    expect(readdirSync(target).filter((name) => !name.startsWith('..')).sort()).toEqual(names);
    expect(contentsOf(target, names)).toEqual(before);
    await harness.unpublish(volume);
  });

  it('writes no key into the target directory on the node disk when renewals run after the mount was unmounted underneath', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'changing' }, { readOnly: false });
    try {
      execFileSync('umount', ['-l', volume.targetPath]);
      expect(findmnt(volume.targetPath)).toBeUndefined();

      await letRenewalsRun(2);

      expect(entriesOnDisk(harness.root, volume.targetPath)).toEqual([]);
      expect(secretsOnDisk(harness.root)).toEqual([]);
    } finally {
      await harness.unpublish(volume).catch(() => undefined);
    }
  });

  it('writes no key anywhere on the node disk when renewals run after every mount keymount made for the volume was unmounted', async () => {
    const mountsBefore = mountsUnder(harness.stateDir);
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'changing' }, { readOnly: false });
    try {
      // The target and whatever keymount mounted for this volume's own work (under its state dir), innermost first.
      const ownMounts = mountsUnder(harness.stateDir).filter((mountPoint) => !mountsBefore.includes(mountPoint));
      for (const mountPoint of [...ownMounts.reverse(), volume.targetPath]) execFileSync('umount', ['-l', mountPoint]);
      expect(mountsUnder(harness.stateDir)).toEqual(mountsBefore);

      await letRenewalsRun(2);

      expect(entriesOnDisk(harness.root, volume.targetPath)).toEqual([]);
      expect(secretsOnDisk(harness.root)).toEqual([]);
    } finally {
      await harness.unpublish(volume).catch(() => undefined);
    }
  });

  it('refuses a second volume ID on a target that holds a volume with ALREADY_EXISTS, and leaves the first volume as it was', async () => {
    const first = harness.newVolume();
    await harness.publish(first, { provider: 'fixed' });
    const mountBefore = findmnt(first.targetPath);
    expect(mountBefore?.fstype).toBe('tmpfs');
    // A new tmpfs would have a new device number, and a rewrite a new data directory.
    const deviceBefore = statSync(first.targetPath).dev;
    const dataBefore = readlinkSync(join(first.targetPath, '..data'));

    const intruder = { ...first, volumeId: `${first.volumeId.slice(0, -8)}deadbeef` };
    const failure = await callError(harness.publish(intruder, { provider: 'fixed' }));

    expect(failure.code).toBe(status.ALREADY_EXISTS);
    expect(failure.details).not.toBe('');
    expect(findmnt(first.targetPath)).toEqual(mountBefore);
    expect(statSync(first.targetPath).dev).toBe(deviceBefore);
    expect(readlinkSync(join(first.targetPath, '..data'))).toBe(dataBefore);
    expect(contentsOf(first.targetPath, ['tls.key', 'ca.crt'])).toEqual(Object.fromEntries(fixedFiles.map((file) => [file.path, file.contents.toString()])));
    await harness.unpublish(first);
    expect(mountsUnder(first.targetPath)).toEqual([]);
  });
});
