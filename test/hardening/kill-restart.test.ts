/**
 * SIGKILL at random points of publish and unpublish, many times over. After
 * each restart the node holds exactly what the published volumes need: every
 * record that says "published" has its tmpfs and directory, and nothing else
 * is mounted, recorded or left as a directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CsiClient } from '../../src/csi/csi-client.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import type { VolumeRecord } from '../../src/volume/state-store.js';
import { newPodVolume, publishRequest, type PodVolume } from '../helpers/kubelet.js';
import { IS_ROOT, ROOT_REASON, findmnt, join, mountsUnder } from '../helpers/system.js';

const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'driver-process.mjs');
const ROUNDS = 12;

describe.skipIf(!IS_ROOT)(`SIGKILL at random points (${IS_ROOT ? 'real tmpfs, real processes' : ROOT_REASON})`, () => {
  let root: string;
  let socket: string;
  let stateDir: string;
  let configFile: string;
  let driver: ChildProcess | undefined;

  async function startDriverProcess(): Promise<void> {
    let output = '';
    const child = spawn(process.execPath, [FIXTURE, socket, stateDir, configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    driver = child;
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await vi.waitFor(
      () => {
        if (!output.includes('keymount is serving')) throw new Error(`driver not ready:\n${output}`);
      },
      { timeout: 15_000, interval: 25 },
    );
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'keymount-kill-'));
    socket = join(root, 'csi.sock');
    stateDir = join(root, 'state');
    configFile = join(root, 'keymount.yaml');
    writeFileSync(configFile, 'providers:\n  local-ca: {type: local-ca}\n');
    await startDriverProcess();
  });
  afterAll(() => {
    driver?.kill('SIGKILL');
    for (const mountPoint of mountsUnder(root).reverse()) execFileSync('umount', [mountPoint]);
    rmSync(root, { recursive: true, force: true });
  });

  function records(): VolumeRecord[] {
    const directory = join(stateDir, 'volumes');
    return readdirSync(directory)
      .filter((name) => name.endsWith('.json'))
      .map((name) => JSON.parse(readFileSync(join(directory, name), 'utf8')) as VolumeRecord);
  }

  it(`leaves exactly what the published volumes need, over ${ROUNDS} kills`, async () => {
    const kubelet = join(root, 'kubelet');
    let published: PodVolume[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const client = new CsiClient(socket, 5000);
      const fresh = Array.from({ length: 4 }, () => newPodVolume(kubelet));
      const leaving = published.slice(0, 2);
      const operations = [
        ...fresh.map((volume) => client.nodePublishVolume(publishRequest(volume, { provider: 'local-ca' }))),
        ...leaving.map((volume) => client.nodeUnpublishVolume({ volume_id: volume.volumeId, target_path: volume.targetPath })),
      ].map((operation) => operation.catch(() => undefined));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 120));
      driver?.kill('SIGKILL');
      driver = undefined;
      await Promise.all(operations);
      client.close();
      await startDriverProcess();

      // The invariant: published record ⇔ keymount tmpfs at the target; nothing else under the kubelet root.
      const recorded = records();
      for (const record of recorded) {
        expect(record.phase).toBe('published');
        expect(findmnt(record.targetPath)?.fstype).toBe('tmpfs');
        expect(readdirSync(record.targetPath)).toEqual(expect.arrayContaining(['tls.crt', 'tls.key', 'ca.crt']));
      }
      const recordedTargets = new Set(recorded.map((record) => record.targetPath));
      expect(new Set(mountsUnder(kubelet))).toEqual(recordedTargets);
      for (const volume of [...published, ...fresh]) {
        expect(existsSync(volume.targetPath)).toBe(recordedTargets.has(volume.targetPath));
      }
      published = [...published, ...fresh].filter((volume) => recordedTargets.has(volume.targetPath));
    }

    // Everything that survived can still be unpublished cleanly.
    const client = new CsiClient(socket);
    for (const volume of published) await client.nodeUnpublishVolume({ volume_id: volume.volumeId, target_path: volume.targetPath });
    client.close();
    expect(mountsUnder(kubelet)).toEqual([]);
    expect(records()).toEqual([]);
  }, 120_000);
});
