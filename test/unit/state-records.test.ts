/** State records: versioned, validated on read, and never able to steer recovery to a path outside the kubelet's shape. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { isKubeletTargetPath } from '../../src/volume/kubelet-paths.js';
import { FileStateStore, RECORD_VERSION, type UnusableRecord, type VolumeRecord } from '../../src/volume/state-store.js';

const fileName = (volumeId: string): string => `${createHash('sha256').update(volumeId).digest('hex')}.json`;

function record(volumeId: string): VolumeRecord {
  return {
    version: RECORD_VERSION,
    volumeId,
    targetPath: `/var/lib/kubelet/pods/0b6a/volumes/kubernetes.io~csi/tls/mount`,
    provider: 'local-ca',
    fingerprint: 'a'.repeat(64),
    phase: 'published',
    createdTargetDir: true,
    readOnly: true,
    mountGroup: 2000,
    attributes: { provider: 'local-ca' },
    pod: { namespace: 'shop', name: 'web-0', uid: '0b6a', serviceAccountName: 'web' },
    versions: {},
    publishedAt: '2026-12-01T00:00:00.000Z',
    lastFetchAt: undefined,
    notAfter: undefined,
    refreshAt: undefined,
    failures: 0,
    retryAfter: undefined,
    lastError: undefined,
  };
}

async function newStore(): Promise<{ store: FileStateStore; directory: string; unusable: UnusableRecord[] }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'keymount-records-'));
  const unusable: UnusableRecord[] = [];
  const store = new FileStateStore(stateDir, (entry) => unusable.push(entry));
  await store.init();
  return { store, directory: join(stateDir, 'volumes'), unusable };
}

describe('FileStateStore', () => {
  it('writes records with their version and reads them back', async () => {
    const { store } = await newStore();
    await store.put(record('csi-one'));
    expect(await store.get('csi-one')).toEqual(record('csi-one'));
    expect(await store.list()).toEqual([record('csi-one')]);
  });

  it('reads a record of keymount 0.1.0 (no version field) as version 0 and keeps its format', async () => {
    const { store, directory } = await newStore();
    const { version: _version, ...legacy } = record('csi-old');
    writeFileSync(join(directory, fileName('csi-old')), JSON.stringify(legacy));
    const read = await store.get('csi-old');
    expect(read?.version).toBe(0);
    await store.put({ ...(read as VolumeRecord), failures: 1 });
    expect((await store.get('csi-old'))?.version).toBe(0);
  });

  it.each([
    ['not JSON', '{"volumeId":', 'it is not JSON'],
    ['a field of the wrong type', JSON.stringify({ ...record('csi-bad'), phase: 'mounted' }), 'phase'],
    ['an unknown field', JSON.stringify({ ...record('csi-bad'), command: 'rm -rf /' }), 'does not match the record format'],
    ['a future version', JSON.stringify({ ...record('csi-bad'), version: 7 }), 'version'],
  ])('removes a record that is %s and reports it, without using it', async (_what, content, reason) => {
    const { store, directory, unusable } = await newStore();
    writeFileSync(join(directory, fileName('csi-bad')), content);
    expect(await store.list()).toEqual([]);
    expect(unusable).toHaveLength(1);
    expect(unusable[0]?.reason).toContain(reason);
    expect(readdirSync(directory)).toEqual([]);
  });

  it('removes a record filed under another volume name (not one keymount wrote)', async () => {
    const { store, directory, unusable } = await newStore();
    writeFileSync(join(directory, fileName('csi-victim')), JSON.stringify(record('csi-attacker')));
    expect(await store.get('csi-victim')).toBeUndefined();
    expect(unusable.map((entry) => entry.reason)).toEqual(['its volume ID does not match its file name']);
  });
});

describe('isKubeletTargetPath', () => {
  const root = '/var/lib/kubelet';
  it.each([
    ['/var/lib/kubelet/pods/7f3c0e0a-1b2c-4d5e-8f90-1234567890ab/volumes/kubernetes.io~csi/tls/mount', true],
    ['/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/my-vol.1/mount', true],
    ['/var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty-dir/data', false],
    ['/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/tls/mount/..', false],
    ['/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/../mount', false],
    ['/var/lib/kubelet/pods/../plugins/volumes/kubernetes.io~csi/x/mount', false],
    ['/var/lib/kubelet/pods//volumes/kubernetes.io~csi/x/mount', false],
    ['/var/lib/kubelet/plugins/keymount.csi.io', false],
    ['/var/lib/kubeletX/pods/uid/volumes/kubernetes.io~csi/tls/mount', false],
    ['/etc', false],
    ['relative/pods/uid/volumes/kubernetes.io~csi/tls/mount', false],
  ])('%s → %s', (path, expected) => {
    expect(isKubeletTargetPath(path, root)).toBe(expected);
  });

  it('accepts a kubelet root given with a trailing slash', () => {
    expect(isKubeletTargetPath('/k/pods/u/volumes/kubernetes.io~csi/v/mount', '/k/')).toBe(true);
  });
});

describe('records keymount 0.1.0 wrote (checked-in fixtures)', () => {
  const fixtures = join(PACKAGE_ROOT, 'test', 'fixtures', 'records');

  it.each(['v0.1.0-published.json', 'v0.1.0-publishing.json'])('reads %s as a version-0 record with every field it had', async (fixture) => {
    const content = readFileSync(join(fixtures, fixture), 'utf8');
    const written = JSON.parse(content) as Record<string, unknown>;
    const { store, directory, unusable } = await newStore();
    writeFileSync(join(directory, fileName(String(written.volumeId))), content);
    const [read] = await store.list();
    expect(unusable).toEqual([]);
    expect(read?.version).toBe(0);
    for (const [key, value] of Object.entries(written)) expect(read?.[key as keyof VolumeRecord], key).toEqual(value);
  });

  it('reads a record written by this version back unchanged', async () => {
    const { store } = await newStore();
    const current = { ...record('csi-current'), lastError: 'provider "aws" did not answer within 30s (--provider-timeout)' };
    await store.put(current);
    expect(await store.get('csi-current')).toEqual(current);
  });
});
