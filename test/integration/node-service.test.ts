/**
 * The CSI Node and Identity services, driven over gRPC as the kubelet drives
 * them, with real tmpfs mounts. Providers here are test doubles; the real
 * local-ca provider has its own suite.
 */
import { readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderFile } from '../../src/provider/contract.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { fixedFilesProviderType, gatedProviderType } from '../helpers/test-providers.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, modeOf, mountsUnder, visibleFiles } from '../helpers/system.js';

const FILES: ProviderFile[] = [
  { path: 'username', contents: Buffer.from('app') },
  { path: 'password', contents: Buffer.from('s3cr3t-canary-value') },
  { path: 'script.sh', mode: 0o500, contents: Buffer.from('#!/bin/sh\necho hi\n') },
];

describe.skipIf(!IS_ROOT)(`NodePublishVolume and NodeUnpublishVolume (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  const gated = gatedProviderType();

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [fixedFilesProviderType(() => FILES), gated.type],
      providers: { fixed: { type: 'fixed-files', settings: {} }, slow: { type: 'gated', settings: {} } },
      flags: { 'provider-timeout': '2s', 'max-volume-size': '1Mi' },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('identifies itself and reports the node', async () => {
    const info = await harness.client.getPluginInfo();
    expect(info.name).toBe('keymount.csi.io');
    expect(info.vendor_version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await harness.client.probe()).ready?.value).toBe(true);
    const node = await harness.client.nodeGetInfo();
    expect(node.node_id).toBe('test-node');
    expect(node.max_volumes_per_node).toBe('0');
    const capabilities = await harness.client.nodeGetCapabilities();
    expect(capabilities.capabilities.map((capability) => capability.rpc?.type)).toEqual(['VOLUME_MOUNT_GROUP']);
  });

  it('mounts a private tmpfs, read-only to the pod, and writes the files with their modes', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' });
    const mount = findmnt(volume.targetPath);
    expect(mount?.fstype).toBe('tmpfs');
    expect(mount?.source).toMatch(/^keymount-[0-9a-f]{24}$/);
    expect(mount?.options.split(',')).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec', 'size=1024k', 'mode=750']));
    expect(modeOf(volume.targetPath)).toBe(0o750);
    expect(visibleFiles(volume.targetPath)).toEqual(['password', 'script.sh', 'username']);
    expect(readFileSync(join(volume.targetPath, 'password'), 'utf8')).toBe('s3cr3t-canary-value');
    expect(modeOf(join(volume.targetPath, 'password'))).toBe(0o440);
    expect(modeOf(join(volume.targetPath, 'script.sh'))).toBe(0o500);
    expect(readlinkSync(join(volume.targetPath, 'password'))).toBe('..data/password');
    expect(readlinkSync(join(volume.targetPath, '..data'))).toMatch(/^\.\.\d{8}_\d{6}\.\d{3}\.[0-9a-f]{8}$/);
    await harness.unpublish(volume);
  });

  it('applies fileMode and fsGroup from the attributes', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed', fileMode: '0400', fsGroup: '2000' });
    const password = join(volume.targetPath, 'password');
    expect(modeOf(password)).toBe(0o400);
    expect(statSync(password).gid).toBe(2000);
    expect(statSync(volume.targetPath).gid).toBe(2000);
    expect(findmnt(volume.targetPath)?.options).toContain('gid=2000');
    await harness.unpublish(volume);
  });

  it('lets the CSI volume_mount_group (the pod fsGroup) win over the fsGroup attribute', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed', fsGroup: '2000' }, { mountGroup: '3000' });
    expect(statSync(join(volume.targetPath, 'username')).gid).toBe(3000);
    expect(statSync(join(volume.targetPath, '..data')).gid).toBe(3000);
    await harness.unpublish(volume);
  });

  it.each([true, false])('serves the volume read-only when the inline volume says readOnly: %s', async (readOnly) => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' }, { readOnly });
    expect(findmnt(volume.targetPath)?.options.split(',')).toContain('ro');
    expect(() => {
      writeFileSync(join(volume.targetPath, 'new'), 'x');
    }).toThrow(/EROFS/);
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('answers OK to a repeated publish without remounting, and ALREADY_EXISTS to changed attributes', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' });
    const dataDir = readlinkSync(join(volume.targetPath, '..data'));
    await harness.publish(volume, { provider: 'fixed' }, { tokens: { vault: 'fresh-token-each-call' } });
    expect(readlinkSync(join(volume.targetPath, '..data'))).toBe(dataDir);
    expect(mountsUnder(volume.targetPath)).toEqual([volume.targetPath]);
    const changed = await callError(harness.publish(volume, { provider: 'fixed', fileMode: '0444' }));
    expect(changed.code).toBe(status.ALREADY_EXISTS);
    expect(changed.details).toContain('different attributes');
    const moved = await callError(harness.client.nodePublishVolume({ ...harness.request(volume, { provider: 'fixed' }), target_path: `${volume.targetPath}2` }));
    expect(moved.code).toBe(status.ALREADY_EXISTS);
    expect(moved.details).toContain(`already published at ${volume.targetPath}`);
    await harness.unpublish(volume);
  });

  it('unpublish removes the mount and the directory, and is idempotent', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' });
    await harness.unpublish(volume);
    expect(findmnt(volume.targetPath)).toBeUndefined();
    expect(exists(volume.targetPath)).toBe(false);
    expect(exists(join(volume.targetPath, '..', 'vol_data.json'))).toBe(true);
    await harness.unpublish(volume);
    await harness.client.nodeUnpublishVolume({ volume_id: 'csi-never-published', target_path: '/tmp/keymount-nowhere/mount' });
  });

  it('answers ABORTED to a second operation while one is in progress on the volume', async () => {
    const volume = harness.newVolume();
    const gate = gated.gate();
    const first = harness.publish(volume, { provider: 'slow' });
    await gate.entered;
    const second = await callError(harness.publish(volume, { provider: 'slow' }));
    expect(second.code).toBe(status.ABORTED);
    expect(second.details).toContain('already in progress');
    const unpublish = await callError(harness.unpublish(volume));
    expect(unpublish.code).toBe(status.ABORTED);
    gate.open();
    await first;
    expect(readFileSync(join(volume.targetPath, 'value'), 'utf8')).toBe('gated\n');
    await harness.unpublish(volume);
  });

  it('gives up on a provider that does not answer within --provider-timeout and leaves nothing behind', async () => {
    const volume = harness.newVolume();
    gated.gate();
    const failure = await callError(harness.publish(volume, { provider: 'slow' }));
    expect(failure.code).toBe(status.DEADLINE_EXCEEDED);
    expect(failure.details).toBe('provider "slow" did not answer within 2s (--provider-timeout)');
    expect(findmnt(volume.targetPath)).toBeUndefined();
    expect(exists(volume.targetPath)).toBe(false);
  });

  it("stops at the caller's deadline when it is shorter than the provider timeout", async () => {
    const volume = harness.newVolume();
    gated.gate();
    const started = Date.now();
    const failure = await callError(harness.client.nodePublishVolume(harness.request(volume, { provider: 'slow' }), 500));
    expect(failure.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(1900);
    // The driver finishes its own rollback shortly after the client gave up.
    await expect.poll(() => exists(volume.targetPath), { timeout: 3000 }).toBe(false);
    expect(findmnt(volume.targetPath)).toBeUndefined();
  });

  it('keeps no token, secret or file content in its state records or logs', async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'fixed' }, { tokens: { vault: 'eyJ-token-canary' }, secrets: { password: 'secret-canary' } });
    const records = readStateRecords(harness.stateDir);
    expect(records).toContain(volume.targetPath);
    for (const canary of ['eyJ-token-canary', 'secret-canary', 's3cr3t-canary-value']) {
      expect(records).not.toContain(canary);
      expect(harness.logLines.join('\n')).not.toContain(canary);
    }
    await harness.unpublish(volume);
  });
});

function readStateRecords(stateDir: string): string {
  const directory = join(stateDir, 'volumes');
  return readdirSync(directory)
    .map((name) => readFileSync(join(directory, name), 'utf8'))
    .join('\n');
}
