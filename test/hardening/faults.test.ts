/**
 * Faults on the node and in providers: each one gets a typed answer and
 * leaves the node as it was (no mount, no directory, no state record).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Provider, ProviderFile, ProviderType } from '../../src/provider/contract.js';
import { CommandMounter, type TmpfsOptions } from '../../src/storage/mounter.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, mountsUnder } from '../helpers/system.js';

/** A provider whose fetch does whatever the test sets. */
function scriptedProviderType(): { type: ProviderType; script: { fetch: () => Promise<unknown> } } {
  const script = { fetch: (): Promise<unknown> => Promise.resolve({ files: [], versions: {} }) };
  const provider: Provider = {
    type: 'scripted',
    attributeKeys: [],
    parseAttributes: () => ({}),
    fetch: () => script.fetch() as ReturnType<Provider['fetch']>,
  };
  return { type: { type: 'scripted', create: () => Promise.resolve(provider) }, script };
}

/** The real mounter, with mount(8) failing on demand. */
class FlakyMounter extends CommandMounter {
  failNextMount = false;
  override async mountTmpfs(target: string, options: TmpfsOptions): Promise<void> {
    if (this.failNextMount) {
      this.failNextMount = false;
      // What mount(8) says when the kernel refuses, through the real command.
      await super.mountTmpfs(target, { ...options, sizeBytes: -1 });
    }
    await super.mountTmpfs(target, options);
  }
}

describe.skipIf(!IS_ROOT)(`faults (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  const scripted = scriptedProviderType();
  const mounter = new FlakyMounter(10_000);
  let smallFiles: readonly ProviderFile[] = [];

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [scripted.type, fixedFilesProviderType(() => smallFiles)],
      providers: { scripted: { type: 'scripted', settings: {} }, many: { type: 'fixed-files', settings: {} } },
      mounter: mounter,
      flags: { 'max-volume-size': '64Ki' },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });
  afterEach(() => {
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
    expect(readdirSync(join(harness.stateDir, 'volumes')).filter((name) => name.endsWith('.json'))).toEqual([]);
  });

  async function refused(attributes: Record<string, string>): Promise<{ code: number; details: string }> {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, attributes));
    expect(exists(volume.targetPath)).toBe(false);
    return failure;
  }

  it('turns a provider that throws an untyped error into INTERNAL with an incident ID, not its message', async () => {
    scripted.script.fetch = () => Promise.reject(new Error('socket hang up at 10.0.0.7 with token eyJsecret'));
    const failure = await refused({ provider: 'scripted' });
    expect(failure.code).toBe(status.INTERNAL);
    expect(failure.details).toMatch(/^internal error in keymount \(incident [0-9a-f-]{36}\); the driver's log has the details$/);
    const incident = /incident ([0-9a-f-]{36})/.exec(failure.details)?.[1] ?? '';
    expect(harness.logLines.some((line) => line.includes(incident) && line.includes('socket hang up'))).toBe(true);
  });

  it.each([
    ['no list of files', { files: 'nope', versions: {} }, /returned no list of files/],
    ['a file that is not an object', { files: [42], versions: {} }, /a file that is not an object/],
    ['a path that is not a string', { files: [{ path: 7, contents: Buffer.from('x') }], versions: {} }, /is not a string/],
    ['contents that are not bytes', { files: [{ path: 'a', contents: 'text' }], versions: {} }, /no contents/],
  ])('refuses a provider that returns %s', async (_what, garbage, message) => {
    scripted.script.fetch = () => Promise.resolve(garbage);
    const failure = await refused({ provider: 'scripted' });
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toMatch(message);
  });

  it('cleans up when mount(8) fails', async () => {
    scripted.script.fetch = () => Promise.resolve({ files: [{ path: 'a', contents: Buffer.from('a') }], versions: {} });
    mounter.failNextMount = true;
    const failure = await refused({ provider: 'scripted' });
    expect(failure.code).toBe(status.INTERNAL);
    expect(failure.details).toMatch(/^mount failed: /);
  });

  it('answers RESOURCE_EXHAUSTED when the tmpfs fills up while writing (ENOSPC), and unmounts', async () => {
    // 40 one-byte files pass the byte count but need 40 pages of a 16-page tmpfs.
    smallFiles = Array.from({ length: 40 }, (_, index) => ({ path: `f${index}`, contents: Buffer.from('x') }));
    const failure = await refused({ provider: 'many' });
    expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.details).toContain('the volume is full while writing its files');
  });

  it('refuses more files than the per-volume limit, naming the limit and the count', async () => {
    smallFiles = Array.from({ length: 1001 }, (_, index) => ({ path: `f${index}`, contents: Buffer.alloc(0) }));
    const failure = await refused({ provider: 'many' });
    expect(failure).toEqual({ code: status.RESOURCE_EXHAUSTED, details: 'provider "many" returned 1001 files, over the limit of 1000 per volume' });
  });

  it('refuses a target whose parent is a symlink, and one that is itself a symlink, touching neither destination', async () => {
    scripted.script.fetch = () => Promise.resolve({ files: [{ path: 'a', contents: Buffer.from('a') }], versions: {} });
    const elsewhere = join(harness.root, 'elsewhere');
    mkdirSync(elsewhere);
    const volume = harness.newVolume();
    const podVolumes = dirname(dirname(volume.targetPath));
    const linkedParent = join(podVolumes, 'linked');
    symlinkSync(elsewhere, linkedParent);
    const viaParent = await callError(harness.client.nodePublishVolume({ ...harness.request(volume, { provider: 'scripted' }), target_path: join(linkedParent, 'mount') }));
    expect(viaParent.code).toBe(status.FAILED_PRECONDITION);
    expect(viaParent.details).toContain('is a symbolic link');
    symlinkSync(elsewhere, volume.targetPath);
    const viaTarget = await callError(harness.publish(volume, { provider: 'scripted' }));
    expect(viaTarget.code).toBe(status.FAILED_PRECONDITION);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(findmnt(elsewhere)).toBeUndefined();
  });

  it('writes a name with encoded separators literally, inside the volume', async () => {
    scripted.script.fetch = () => Promise.resolve({ files: [{ path: 'a%2F..%2Fb', contents: Buffer.from('x') }], versions: {} });
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'scripted' });
    expect(exists(join(volume.targetPath, 'a%2F..%2Fb'))).toBe(true);
    await harness.unpublish(volume);
  });
});

describe.skipIf(!IS_ROOT)(`an unwritable state dir (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [fixedFilesProviderType(() => [{ path: 'a', contents: Buffer.from('a') }])],
      providers: { fixed: { type: 'fixed-files', settings: {} } },
    });
    // Root ignores permission bits, so make the state dir a read-only mount.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'keymount-test-ro', join(harness.stateDir, 'volumes')]);
  });
  afterAll(async () => {
    execFileSync('umount', [join(harness.stateDir, 'volumes')]);
    await harness.stop();
  });

  it('answers UNAVAILABLE naming the state dir and mounts nothing', async () => {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'fixed' }));
    expect(failure.code).toBe(status.UNAVAILABLE);
    expect(failure.details).toBe(`keymount cannot write its state dir ${join(harness.stateDir, 'volumes')} (EROFS); check --state-dir`);
    expect(exists(volume.targetPath)).toBe(false);
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
  });
});
