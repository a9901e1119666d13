/**
 * The volume's tmpfs lives in the driver's private mount dir and the pod sees
 * it through a read-only bind: a refresh writes only there, and only while
 * that tmpfs is still mounted; volumes of keymount 0.1.0 keep their files but
 * are no longer written to.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileStateStore, type VolumeRecord } from '../../src/volume/state-store.js';
import { status } from '@grpc/grpc-js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { versionedProviderType } from '../helpers/test-providers.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, mountsUnder } from '../helpers/system.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe.skipIf(!IS_ROOT)(`private volume mounts (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  const versioned = versionedProviderType();

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [versioned.type],
      providers: { versioned: { type: 'versioned', settings: {} } },
      limits: { refreshBackoffBaseMs: 200, refreshBackoffMaxMs: 400 },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('mounts the tmpfs under <state-dir>/mounts and binds it read-only at the target', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'versioned' });
    const privatePath = join(harness.stateDir, 'mounts', sha256(volume.volumeId));
    expect(findmnt(privatePath)?.options.split(',')).toContain('rw');
    expect(findmnt(volume.targetPath)?.options.split(',')).toContain('ro');
    expect(findmnt(privatePath)?.source).toBe(findmnt(volume.targetPath)?.source);
    await harness.unpublish(volume);
    expect(exists(privatePath)).toBe(false);
    expect(mountsUnder(harness.stateDir)).toEqual([]);
  });

  it('writes nothing once its private tmpfs is gone, and keeps the last good files', async () => {
    const volume = harness.newVolume();
    versioned.backend.refreshAfterMs = 300;
    await harness.publish(volume, { provider: 'versioned' });
    const privatePath = join(harness.stateDir, 'mounts', sha256(volume.volumeId));
    const before = readFileSync(join(volume.targetPath, 'a'), 'utf8');
    // Lazily unmounted, the tmpfs lives on behind the target's bind; its mount point is now a plain directory.
    execFileSync('umount', ['-l', privatePath]);
    versioned.backend.version++;
    const store = new FileStateStore(harness.stateDir);
    await vi.waitFor(
      async () => {
        const record = (await store.get(volume.volumeId)) as VolumeRecord;
        if (record.failures === 0) throw new Error('no refresh yet');
        expect(record.lastError).toContain('is no longer mounted; nothing was written');
      },
      { timeout: 8000, interval: 100 },
    );
    versioned.backend.refreshAfterMs = undefined;
    expect(readdirSync(privatePath)).toEqual([]);
    expect(readFileSync(join(volume.targetPath, 'a'), 'utf8')).toBe(before);
    await harness.unpublish(volume);
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
  });

  it('keeps serving a volume of keymount 0.1.0 after an upgrade, but no longer writes into it', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'versioned' });
    const store = new FileStateStore(harness.stateDir);
    const published = (await store.get(volume.volumeId)) as VolumeRecord;
    // Turn it into what 0.1.0 left: a tmpfs named "keymount" at the target itself, and a record without a version.
    const privatePath = join(harness.stateDir, 'mounts', sha256(volume.volumeId));
    execFileSync('umount', [volume.targetPath]);
    execFileSync('umount', [privatePath]);
    execFileSync('rmdir', [privatePath]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,size=64k,mode=0750', 'keymount', volume.targetPath]);
    writeFileSync(join(volume.targetPath, 'a'), 'written by 0.1.0');
    const { version: _version, ...legacy } = { ...published, refreshAt: new Date(Date.now() + 500).toISOString() };
    writeFileSync(join(harness.stateDir, 'volumes', `${sha256(volume.volumeId)}.json`), JSON.stringify(legacy));

    versioned.backend.version++;
    expect(await harness.driver.volumes.recover()).toEqual({ resumed: 1, cleaned: 0 });
    await harness.publish(volume, { provider: 'versioned' });
    await vi.waitFor(
      async () => {
        const record = (await store.get(volume.volumeId)) as VolumeRecord;
        if (record.failures === 0) throw new Error('no refresh yet');
        expect(record.lastError).toContain('published by an earlier keymount version');
      },
      { timeout: 8000, interval: 100 },
    );
    expect(readFileSync(join(volume.targetPath, 'a'), 'utf8')).toBe('written by 0.1.0');
    await harness.unpublish(volume);
    expect(findmnt(volume.targetPath)).toBeUndefined();
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('refuses to publish on a target that holds a mount keymount did not make, and leaves it alone', async () => {
    const volume = harness.newVolume();
    execFileSync('mkdir', [volume.targetPath]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'someone-else', volume.targetPath]);
    writeFileSync(join(volume.targetPath, 'theirs'), 'x');
    try {
      const failure = await callError(harness.publish(volume, { provider: 'versioned' }));
      expect(failure.code).toBe(status.FAILED_PRECONDITION);
      expect(failure.details).toBe(
        `target path ${volume.targetPath} already has a tmpfs mount that keymount did not make; keymount publishes only on an unmounted target and leaves that mount alone`,
      );
      expect(findmnt(volume.targetPath)?.source).toBe('someone-else');
      expect(readFileSync(join(volume.targetPath, 'theirs'), 'utf8')).toBe('x');
      expect(mountsUnder(join(harness.stateDir, 'mounts'))).toEqual([]);
    } finally {
      execFileSync('umount', [volume.targetPath]);
    }
  });
});
