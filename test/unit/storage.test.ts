import { mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicWriter } from '../../src/storage/atomic-writer.js';
import { parseMountinfo } from '../../src/storage/mounter.js';
import { toVolumeFiles, unsafePathReason } from '../../src/storage/volume-files.js';

const clock = { now: () => new Date('2026-11-24T10:00:00.123Z') };

function files(entries: Record<string, string>) {
  return toVolumeFiles(
    'test',
    Object.entries(entries).map(([path, text]) => ({ path, contents: Buffer.from(text) })),
    { defaultMode: 0o440, maxTotalBytes: 1 << 20 },
  );
}

describe('AtomicWriter', () => {
  it('switches the whole set with one ..data rename and removes what the new set lacks', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymount-writer-'));
    const writer = new AtomicWriter(clock);
    await writer.writeAll(root, files({ a: 'one', 'dir/b': 'two', gone: 'x' }), { gid: undefined });
    const firstData = readlinkSync(join(root, '..data'));
    expect(firstData).toMatch(/^\.\.20261124_100000\.123\.[0-9a-f]{8}$/);
    expect(readFileSync(join(root, 'dir', 'b'), 'utf8')).toBe('two');

    await writer.writeAll(root, files({ a: 'ONE', 'dir/c': 'three' }), { gid: undefined });
    const secondData = readlinkSync(join(root, '..data'));
    expect(secondData).not.toBe(firstData);
    expect(readFileSync(join(root, 'a'), 'utf8')).toBe('ONE');
    expect(readFileSync(join(root, 'dir', 'c'), 'utf8')).toBe('three');
    expect(readdirSync(root).sort()).toEqual(['..data', secondData, 'a', 'dir'].sort());
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o440);
  });

  it('replaces a planted symlink at a visible name instead of writing through it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'keymount-writer-'));
    const outside = mkdtempSync(join(tmpdir(), 'keymount-outside-'));
    symlinkSync(join(outside, 'stolen'), join(root, 'a'));
    await new AtomicWriter(clock).writeAll(root, files({ a: 'safe' }), { gid: undefined });
    expect(readlinkSync(join(root, 'a'))).toBe('..data/a');
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe('provider file checks', () => {
  it.each([
    ['tls.crt', undefined],
    ['certs/tls.crt', undefined],
    ['../x', 'contains ".."'],
    ['/etc/passwd', 'is absolute'],
    ['a/./b', 'contains "."'],
    ['C:\\x', 'contains a backslash (only "/" separates directories)'],
    ['..hidden', 'starts an element with "..", which keymount reserves'],
    ['a/b/c/d/e/f/g/h/i', 'is deeper than 8 directories'],
    ['é'.repeat(128), 'has an element longer than 255 bytes'],
    ['a\nb', 'contains the control character U+000A (C0, DEL, C1, line or paragraph separators and bidirectional controls are refused)'],
    ['dir/line\u2028sep', 'contains the control character U+2028 (C0, DEL, C1, line or paragraph separators and bidirectional controls are refused)'],
  ])('%j → %s', (path, reason) => {
    expect(unsafePathReason(path)).toBe(reason);
  });

  it('applies the default mode only where the provider gave none', () => {
    const [withDefault, withOwn] = toVolumeFiles(
      'p',
      [
        { path: 'a', contents: Buffer.from('') },
        { path: 'b', mode: 0o400, contents: Buffer.from('') },
      ],
      { defaultMode: 0o444, maxTotalBytes: 10 },
    );
    expect(withDefault?.mode).toBe(0o444);
    expect(withOwn?.mode).toBe(0o400);
  });
});

describe('mountinfo', () => {
  it('reads mount points with escaped spaces and the fs type after the separator', () => {
    const table = parseMountinfo(
      [
        '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw',
        '99 22 0:50 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/my\\040vol/mount rw,nosuid,nodev,noexec,relatime shared:40 - tmpfs keymount rw,size=4096k,mode=750',
      ].join('\n'),
    );
    expect(table).toHaveLength(2);
    expect(table[1]).toEqual({
      mountPoint: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/my vol/mount',
      fsType: 'tmpfs',
      source: 'keymount',
      options: ['rw', 'nosuid', 'nodev', 'noexec', 'relatime', 'rw', 'size=4096k', 'mode=750'],
    });
  });
});
