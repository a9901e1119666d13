/**
 * The core refuses any file a provider returns that could land outside the
 * volume, and writes nothing at all when one file is refused.
 */
import { readdirSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderFile } from '../../src/provider/contract.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, mountsUnder } from '../helpers/system.js';

describe.skipIf(!IS_ROOT)(`provider paths are checked by the core (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  let files: readonly ProviderFile[] = [];

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [fixedFilesProviderType(() => files)],
      providers: { fixed: { type: 'fixed-files', settings: {} } },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  const good: ProviderFile = { path: 'good.txt', contents: Buffer.from('fine') };
  const unsafe: [string, string, RegExp][] = [
    ['../x', 'a parent-directory escape', /contains "\.\."/],
    ['/etc/x', 'an absolute path', /is absolute/],
    ['a/../../x', 'an escape in the middle', /contains "\.\."/],
    ['a'.repeat(300), 'a 300-byte name', /longer than 255 bytes/],
    ['dir\\..\\x', 'a backslash separator', /backslash/],
    ['nul\0name', 'a NUL byte', /NUL/],
    ['', 'an empty name', /is empty/],
    ['..data', "the writer's own link name", /reserves/],
    ['a//b', 'an empty element', /empty path element/],
  ];

  it.each(unsafe)('refuses %j (%s) and writes nothing', async (path, _what, reason) => {
    files = [good, { path, contents: Buffer.from('escaped') }];
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'fixed' }));
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toMatch(reason);
    expect(failure.details).toContain('provider "fixed"');
    expect(findmnt(volume.targetPath)).toBeUndefined();
    expect(exists(volume.targetPath)).toBe(false);
    // Nothing escaped next to the target, into the pod dir or the kubelet root.
    expect(readdirSync(join(volume.targetPath, '..')).sort()).toEqual(['vol_data.json']);
    expect(exists(join(harness.kubeletRoot, 'x'))).toBe(false);
    expect(exists(join(harness.root, 'x'))).toBe(false);
  });

  it('refuses duplicate paths', async () => {
    files = [good, { path: 'good.txt', contents: Buffer.from('again') }];
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'fixed' }));
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toContain('"good.txt" twice');
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('refuses a path that is both a file and a directory', async () => {
    files = [good, { path: 'good.txt/inner', contents: Buffer.from('x') }];
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'fixed' }));
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toContain('both as a file and as a directory');
  });

  it('refuses modes beyond permission bits (no setuid files)', async () => {
    files = [{ path: 'run-me', mode: 0o4755, contents: Buffer.from('#!/bin/sh\n') }];
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'fixed' }));
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toContain('only permission bits');
  });

  it('refuses a file set larger than the volume, naming the limit', async () => {
    files = [{ path: 'big', contents: Buffer.alloc(5 * 1024 * 1024) }];
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'fixed' }));
    expect(failure.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.details).toContain('4Mi (--max-volume-size)');
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
  });

  it('accepts nested relative paths and links them through ..data', async () => {
    files = [good, { path: 'certs/tls.crt', mode: 0o444, contents: Buffer.from('cert') }];
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' });
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(readdirSync(volume.targetPath).filter((name) => !name.startsWith('..2')).sort()).toEqual(['..data', 'certs', 'good.txt']);
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
  });
});
