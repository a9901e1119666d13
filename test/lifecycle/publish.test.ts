/**
 * Publish and unpublish on in-memory ports: what the node shows after each
 * step, idempotent repeats, refusals, and the rollback of each failed step.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeymountError } from '../../src/errors.js';
import { UNCHANGED } from '../../src/provider/contract.js';
import { mountSourceOf } from '../../src/storage/private-mounts.js';
import { NEVER_ABORTED, fileAnswer, lifecycle, publishRequest, warnings, type Lifecycle } from './harness.js';

let node: Lifecycle;

beforeEach(async () => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  node = await lifecycle();
});

afterEach(() => {
  node.manager.close();
  vi.useRealTimers();
});

/** The node holds nothing of the volume: no mount, no private mount point, no record, no created target dir. */
function expectNothingLeft(volumeId: string, target: string): void {
  expect(node.mounter.mountPoints).toEqual([]);
  expect(node.privateMounts.directories.has(node.privateMounts.pathOf(volumeId))).toBe(false);
  expect(node.state.peek(volumeId)).toBeUndefined();
  expect(node.targets.directories.has(target)).toBe(false);
}

describe('publish', () => {
  it('mounts a private tmpfs, writes the files, binds it read-only at the target and records the volume', async () => {
    const request = publishRequest('vol-1', { mountGroup: 2000 });
    await node.manager.publish(request, NEVER_ABORTED);

    const privatePath = node.privateMounts.pathOf('vol-1');
    expect(node.mounter.mountPoints).toEqual([privatePath, request.targetPath]);
    const shown = node.mounter.topmost(request.targetPath);
    expect(shown?.options).toContain('ro');
    expect(shown?.source).toBe(mountSourceOf('vol-1'));
    const files = node.mounter.filesAt(request.targetPath);
    expect(files?.get('value')).toEqual({ mode: 0o440, gid: 2000, contents: Buffer.from('1') });
    const record = node.state.peek('vol-1');
    expect(record).toMatchObject({ phase: 'published', createdTargetDir: true, versions: { value: '1' }, failures: 0 });
    expect(node.targets.directories.has(request.targetPath)).toBe(true);
  });

  it('is idempotent: a repeat within the refresh interval fetches nothing and changes nothing', async () => {
    const request = publishRequest('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    const recordBefore = node.state.peek('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches).toHaveLength(1);
    expect(node.mounter.mountPoints).toHaveLength(2);
    expect(node.state.peek('vol-1')).toEqual(recordBefore);
  });

  it('refuses the same volume at another target with ALREADY_EXISTS', async () => {
    await node.manager.publish(publishRequest('vol-1'), NEVER_ABORTED);
    const elsewhere = publishRequest('vol-1', { targetPath: publishRequest('vol-2').targetPath });
    await expect(node.manager.publish(elsewhere, NEVER_ABORTED)).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringContaining('already published at') as unknown });
    expect(node.mounter.mountsAt(elsewhere.targetPath)).toEqual([]);
  });

  it('refuses changed attributes at the same target with ALREADY_EXISTS', async () => {
    await node.manager.publish(publishRequest('vol-1'), NEVER_ABORTED);
    const changed = publishRequest('vol-1', { attributes: { provider: 'scripted', fileMode: '0400' } });
    await expect(node.manager.publish(changed, NEVER_ABORTED)).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringContaining('different attributes') as unknown });
    expect(node.mounter.filesAt(changed.targetPath)?.get('value')?.mode).toBe(0o440);
  });

  it("refuses a target that holds another keymount volume's tmpfs with ALREADY_EXISTS and leaves it mounted", async () => {
    const target = publishRequest('vol-1').targetPath;
    node.mounter.addForeignMount(target, 'tmpfs', mountSourceOf('vol-other'));
    await expect(node.manager.publish(publishRequest('vol-1'), NEVER_ABORTED)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(node.mounter.mountsAt(target)).toHaveLength(1);
    expect(node.state.size).toBe(0);
  });

  it('refuses a target that holds a mount keymount did not make with FAILED_PRECONDITION', async () => {
    const target = publishRequest('vol-1').targetPath;
    node.mounter.addForeignMount(target, 'ext4', '/dev/sda1');
    await expect(node.manager.publish(publishRequest('vol-1'), NEVER_ABORTED)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('ext4 mount that keymount did not make') as unknown,
    });
    expect(node.mounter.mountPoints).toEqual([target]);
  });

  it("replaces the volume's own mount whose record was lost", async () => {
    const request = publishRequest('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    await node.state.delete('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.mounter.mountsAt(request.targetPath)).toHaveLength(1);
    expect(node.state.peek('vol-1')?.phase).toBe('published');
    expect(warnings(node.logs)).toContain('replacing a mount of this volume that keymount has no record of');
  });

  it('refuses a first fetch that answers "unchanged" and rolls back', async () => {
    node.backend.answer = () => Promise.resolve(UNCHANGED);
    const request = publishRequest('vol-1');
    await expect(node.manager.publish(request, NEVER_ABORTED)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: 'provider "scripted" answered "unchanged" to a first fetch',
    });
    expectNothingLeft('vol-1', request.targetPath);
  });

  it('keeps a target directory the kubelet made', async () => {
    const request = publishRequest('vol-1');
    node.targets.directories.add(request.targetPath);
    node.backend.answer = () => Promise.reject(new KeymountError('UNAVAILABLE', 'backend down'));
    await expect(node.manager.publish(request, NEVER_ABORTED)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(node.targets.directories.has(request.targetPath)).toBe(true);
    expect(node.mounter.mountPoints).toEqual([]);
  });
});

describe('concurrency and deadlines', () => {
  it("answers ABORTED to a second call while the volume's first is still running", async () => {
    let answer!: () => void;
    node.backend.answer = () => new Promise((resolve) => (answer = () => { resolve(fileAnswer('1')); }));
    const request = publishRequest('vol-1');
    const first = node.manager.publish(request, NEVER_ABORTED);
    await vi.waitFor(() => {
      expect(node.backend.fetches).toHaveLength(1);
    });
    await expect(node.manager.publish(request, NEVER_ABORTED)).rejects.toMatchObject({ code: 'ABORTED' });
    answer();
    await first;
    expect(node.mounter.filesAt(request.targetPath)?.get('value')?.contents).toEqual(Buffer.from('1'));
  });

  it("fails with DEADLINE_EXCEEDED when the caller's deadline passes during the fetch, and rolls back", async () => {
    node.backend.answer = () => new Promise(() => undefined);
    const request = publishRequest('vol-1');
    const caller = new AbortController();
    const publishing = node.manager.publish(request, caller.signal);
    await vi.waitFor(() => {
      expect(node.backend.fetches).toHaveLength(1);
    });
    caller.abort();
    await expect(publishing).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED', message: expect.stringContaining("the caller's deadline passed") as unknown });
    expectNothingLeft('vol-1', request.targetPath);
  });
});

describe('rollback of a failed publish', () => {
  type Step = [name: string, arm: (node: Lifecycle) => void, code: string];
  const steps: Step[] = [
    ['the record', (n) => { n.state.faults.failNext('put', new KeymountError('UNAVAILABLE', 'state dir full')); }, 'UNAVAILABLE'],
    ['the target directory', (n) => { n.targets.faults.failNext('create', new KeymountError('FAILED_PRECONDITION', 'no parent')); }, 'FAILED_PRECONDITION'],
    ['the private mount point', (n) => { n.privateMounts.faults.failNext('create'); }, 'INTERNAL'],
    ['the tmpfs mount', (n) => { n.mounter.faults.failNext('mountTmpfs'); }, 'INTERNAL'],
    [
      'the fetch',
      (n) => {
        const answer = n.backend.answer;
        n.backend.answer = () => {
          n.backend.answer = answer;
          return Promise.reject(new KeymountError('NOT_FOUND', 'no such secret'));
        };
      },
      'NOT_FOUND',
    ],
    ['the write', (n) => { n.writer.faults.failNext('writeAll', new KeymountError('RESOURCE_EXHAUSTED', 'volume full')); }, 'RESOURCE_EXHAUSTED'],
    ['the bind', (n) => { n.mounter.faults.failNext('bindReadOnly'); }, 'INTERNAL'],
    // The record's first put (phase "publishing") goes through; the second ("published") fails.
    ['the published record', (n) => { n.state.faults.failAfter('put', 1, new KeymountError('UNAVAILABLE', 'state dir full')); }, 'UNAVAILABLE'],
  ];

  it.each(steps)('undoes every earlier step when %s fails, and reports the failure', async (_name, arm, code) => {
    const request = publishRequest('vol-1');
    arm(node);
    await expect(node.manager.publish(request, NEVER_ABORTED)).rejects.toMatchObject({ code });
    expectNothingLeft('vol-1', request.targetPath);
    expect(node.backend.releases).toEqual(['vol-1']);
    // The node is usable again: the next publish succeeds.
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.mounter.filesAt(request.targetPath)?.get('value')?.contents).toEqual(Buffer.from('1'));
  });

  it('logs, and does not hide the original error, when a rollback step itself fails', async () => {
    const request = publishRequest('vol-1');
    node.mounter.faults.failNext('bindReadOnly', new KeymountError('INTERNAL', 'bind refused'));
    node.mounter.faults.failNext('unmount', new KeymountError('INTERNAL', 'umount busy'));
    await expect(node.manager.publish(request, NEVER_ABORTED)).rejects.toThrow('bind refused');
    expect(warnings(node.logs)).toContain('rollback of a failed publish is incomplete');
  });
});

describe('unpublish', () => {
  it('removes the bind, the private tmpfs, the target directory and the record', async () => {
    const request = publishRequest('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    await node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    expectNothingLeft('vol-1', request.targetPath);
    expect(node.backend.releases).toEqual(['vol-1']);
  });

  it('unmounts everything stacked on the target, topmost first', async () => {
    const request = publishRequest('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    node.mounter.addForeignMount(request.targetPath, 'tmpfs', 'stacked-1');
    node.mounter.addForeignMount(request.targetPath, 'overlay', 'stacked-2');
    await node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    expectNothingLeft('vol-1', request.targetPath);
    expect(node.mounter.calls.filter((call) => call === `unmount ${request.targetPath}`)).toHaveLength(3);
  });

  it('refuses with FAILED_PRECONDITION, and leaves them alone, when other mounts sit inside the target', async () => {
    const request = publishRequest('vol-1');
    // Mounted inside the target directory before the volume covered it: the bind comes off, this one stays.
    const nested = `${request.targetPath}/nested`;
    node.targets.directories.add(request.targetPath);
    node.mounter.addForeignMount(nested, 'tmpfs', 'pod-made');
    await node.manager.publish(request, NEVER_ABORTED);
    await expect(node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('has other mounts inside it') as unknown,
    });
    expect(node.mounter.mountPoints).toEqual([nested, node.privateMounts.pathOf('vol-1')]);
    expect(node.state.peek('vol-1')).toBeDefined();
  });

  it("goes on when the provider's release() fails", async () => {
    const request = publishRequest('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.releaseError = new Error('lease revocation failed');
    await node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    expectNothingLeft('vol-1', request.targetPath);
    expect(warnings(node.logs)).toContain('provider could not release the volume; continuing with unpublish');
  });

  it('is idempotent: a volume already gone unpublishes cleanly', async () => {
    const request = publishRequest('vol-1');
    await node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    expect(node.mounter.calls).toEqual([]);
  });

  it('leaves a target directory that something wrote into', async () => {
    const request = publishRequest('vol-1');
    await node.manager.publish(request, NEVER_ABORTED);
    node.targets.nonEmpty.add(request.targetPath);
    await node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    expect(node.targets.directories.has(request.targetPath)).toBe(true);
    expect(node.mounter.mountPoints).toEqual([]);
    expect(warnings(node.logs)).toContain('left the target directory in place: something wrote into it while no volume was mounted there');
  });
});

