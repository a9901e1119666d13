/**
 * Start-up recovery on in-memory ports: a new VolumeManager on the same node
 * (mount table, directories, records) as an earlier one, as after a restart.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RECORD_VERSION, FileStateStore, type UnusableRecord, type VolumeRecord } from '../../src/volume/state-store.js';
import type { VolumeManager } from '../../src/volume/volume-manager.js';
import { NEVER_ABORTED, fileAnswer, lifecycle, publishRequest, warnings, type Lifecycle } from './harness.js';

const HOUR_MS = 3_600_000;
const request = publishRequest('vol-1');

let node: Lifecycle;
let restarted: VolumeManager | undefined;

beforeEach(async () => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  node = await lifecycle();
});

afterEach(() => {
  node.manager.close();
  restarted?.close();
  restarted = undefined;
  vi.useRealTimers();
});

async function restart(instances?: readonly string[]): Promise<VolumeManager> {
  node.manager.close();
  restarted = await node.restart(instances);
  return restarted;
}

function shownValue(): string | undefined {
  return node.mounter.filesAt(request.targetPath)?.get('value')?.contents.toString('utf8');
}

describe('recover', () => {
  it('resumes a published volume that is still served, touching no mount', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    const callsBefore = node.mounter.calls.length;
    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 1, cleaned: 0 });
    expect(node.mounter.calls).toHaveLength(callsBefore);
    expect(shownValue()).toBe('1');
    // Resumed: a repeat publish is idempotent and fetches nothing.
    await manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches).toHaveLength(1);
  });

  it('resumes the renewal timer of a resumed volume', async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() + HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    const manager = await restart();
    await manager.recover();
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    await vi.advanceTimersByTimeAsync(HOUR_MS);
    expect(node.backend.fetches).toHaveLength(2);
    expect(shownValue()).toBe('2');
  });

  it('cleans up a publish interrupted before its files were in place', async () => {
    // The provider never answers: the driver "crashes" with the record still in phase "publishing".
    node.backend.answer = () => new Promise(() => undefined);
    const interrupted = node.manager.publish(request, NEVER_ABORTED);
    interrupted.catch(() => undefined);
    await vi.waitFor(() => {
      expect(node.backend.fetches).toHaveLength(1);
    });
    expect(node.state.peek('vol-1')?.phase).toBe('publishing');
    expect(node.mounter.mountPoints).toEqual([node.privateMounts.pathOf('vol-1')]);

    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 0, cleaned: 1 });
    expect(node.mounter.mountPoints).toEqual([]);
    expect(node.privateMounts.directories.size).toBe(0);
    expect(node.targets.directories.has(request.targetPath)).toBe(false);
    expect(node.state.size).toBe(0);
  });

  it('cleans up a published volume whose bind is gone (a reboot), and removes the directory it created', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    await node.mounter.unmount(request.targetPath);
    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 0, cleaned: 1 });
    expect(node.mounter.mountPoints).toEqual([]);
    expect(node.targets.directories.has(request.targetPath)).toBe(false);
    expect(node.state.size).toBe(0);
  });

  it('leaves a foreign mount at the target alone, and the directory under it', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    await node.mounter.unmount(request.targetPath);
    node.mounter.addForeignMount(request.targetPath, 'ext4', '/dev/sdb1');
    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 0, cleaned: 1 });
    expect(node.mounter.mountPoints).toEqual([request.targetPath]);
    expect(node.mounter.topmost(request.targetPath)?.source).toBe('/dev/sdb1');
    expect(node.targets.directories.has(request.targetPath)).toBe(true);
    expect(node.state.size).toBe(0);
    expect(warnings(node.logs)).toContain('left a mount keymount did not make for this volume in place');
  });

  it('drops a record whose target is not a kubelet volume path, touching nothing there', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    const planted: VolumeRecord = { ...(node.state.peek('vol-1') as VolumeRecord), volumeId: 'vol-planted', targetPath: '/etc' };
    await node.state.put(planted);
    node.mounter.addForeignMount('/etc', 'ext4', '/dev/sda1');
    node.targets.directories.add('/etc');
    const callsBefore = [...node.mounter.calls];
    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 1, cleaned: 1 });
    expect(node.mounter.calls).toEqual(callsBefore);
    expect(node.targets.calls.filter((call) => call.endsWith(' /etc'))).toEqual([]);
    expect(node.mounter.mountsAt('/etc')).toHaveLength(1);
    expect(node.targets.directories.has('/etc')).toBe(true);
    expect(node.state.peek('vol-planted')).toBeUndefined();
    expect(warnings(node.logs)).toContain('ignored a state record whose target path is not a kubelet volume path');
  });

  it('keeps serving a volume whose provider instance was removed from the config, refreshing nothing', async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() + HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    const manager = await restart(['another']);
    await expect(manager.recover()).resolves.toEqual({ resumed: 1, cleaned: 0 });
    expect(warnings(node.logs)).toContain('cannot resume refreshing a volume; its files stay as they are');
    await vi.advanceTimersByTimeAsync(2 * HOUR_MS);
    expect(node.backend.fetches).toHaveLength(1);
    expect(shownValue()).toBe('1');
    expect(node.state.peek('vol-1')?.phase).toBe('published');
    // The kubelet can still unpublish it.
    await manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    expect(node.mounter.mountPoints).toEqual([]);
  });

  it('drops one record that fails to recover and goes on with the others', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    const other = publishRequest('vol-2');
    await node.manager.publish(other, NEVER_ABORTED);
    await node.mounter.unmount(other.targetPath);
    node.mounter.faults.failNext('unmount', new Error('umount hung'));
    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 1, cleaned: 1 });
    expect(node.state.peek('vol-2')).toBeUndefined();
    expect(warnings(node.logs)).toContain('cannot recover a volume; dropped its record');
  });
});

describe('a corrupt record (FileStateStore on a temp dir)', () => {
  let stateDir: string;

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'keymount-lifecycle-'));
  });

  afterEach(() => {
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('is dropped without stopping recovery, and the next publish replaces the volume it described', async () => {
    const unusable: UnusableRecord[] = [];
    const store = new FileStateStore(stateDir, (record) => unusable.push(record));
    await store.init();
    node.manager.close();
    node = await lifecycle({ stateStore: store });
    await node.manager.publish(request, NEVER_ABORTED);
    const [file] = readdirSync(join(stateDir, 'volumes'));
    writeFileSync(join(stateDir, 'volumes', file ?? 'missing'), '{"version": 1, "volumeId": ');

    const manager = await restart();
    await expect(manager.recover()).resolves.toEqual({ resumed: 0, cleaned: 0 });
    expect(unusable).toEqual([{ file: join(stateDir, 'volumes', file ?? 'missing'), reason: 'it is not JSON' }]);
    expect(readdirSync(join(stateDir, 'volumes'))).toEqual([]);

    // The volume's own mount, now without a record, is replaced by the kubelet's next publish.
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    await manager.publish(request, NEVER_ABORTED);
    expect(node.mounter.mountsAt(request.targetPath)).toHaveLength(1);
    expect(shownValue()).toBe('2');
    expect((await store.get('vol-1'))?.version).toBe(RECORD_VERSION);
  });
});
