/**
 * A driver killed with SIGKILL and started again: published volumes are
 * still served and their timers resume, and a publish that was cut off half
 * way leaves nothing behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CsiClient } from '../../src/csi/csi-client.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { newPodVolume, publishRequest } from '../helpers/kubelet.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, mountsUnder } from '../helpers/system.js';

const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'driver-process.mjs');

describe.skipIf(!IS_ROOT)(`restart recovery (${IS_ROOT ? 'real tmpfs, real processes' : ROOT_REASON})`, () => {
  let root: string;
  let socket: string;
  let stateDir: string;
  let configFile: string;
  let driver: ChildProcess | undefined;
  let client: CsiClient;

  async function startDriverProcess(): Promise<void> {
    let output = '';
    driver = spawn(process.execPath, [FIXTURE, socket, stateDir, configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    driver.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    driver.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await vi.waitFor(
      () => {
        if (!output.includes('keymount is serving')) throw new Error(`driver not ready:\n${output}`);
      },
      { timeout: 15_000, interval: 50 },
    );
  }

  function killDriver(): void {
    driver?.kill('SIGKILL');
    driver = undefined;
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'keymount-restart-'));
    socket = join(root, 'csi.sock');
    stateDir = join(root, 'state');
    configFile = join(root, 'keymount.yaml');
    writeFileSync(configFile, 'providers:\n  local-ca: {type: local-ca}\n  hang: {type: hang}\n  ticker: {type: ticker}\n');
    await startDriverProcess();
    client = new CsiClient(socket);
  });
  afterAll(() => {
    client.close();
    killDriver();
    for (const mountPoint of mountsUnder(root).reverse()) execFileSync('umount', [mountPoint]);
    rmSync(root, { recursive: true, force: true });
  });

  it('keeps serving published volumes, resumes their timers, and cleans up a publish cut off by the kill', async () => {
    const kubelet = join(root, 'kubelet');
    const certificate = newPodVolume(kubelet, 'tls');
    const ticking = newPodVolume(kubelet, 'tick');
    const interrupted = newPodVolume(kubelet, 'stuck');
    await client.nodePublishVolume(publishRequest(certificate, { provider: 'local-ca' }));
    await client.nodePublishVolume(publishRequest(ticking, { provider: 'ticker' }));
    const certificateData = readlinkSync(join(certificate.targetPath, '..data'));
    const certificateBytes = readFileSync(join(certificate.targetPath, 'tls.crt'));

    // Kill the driver while a publish has mounted its private tmpfs but still waits for its provider.
    const privateMounts = (): string[] => mountsUnder(join(stateDir, 'mounts'));
    const stuck = client.nodePublishVolume(publishRequest(interrupted, { provider: 'hang' })).catch((error: unknown) => error);
    await vi.waitFor(() => {
      if (privateMounts().length < 3) throw new Error('not mounted yet');
    });
    killDriver();
    await stuck;
    expect(findmnt(interrupted.targetPath)).toBeUndefined();
    expect(exists(interrupted.targetPath)).toBe(true);

    await startDriverProcess();

    // The cut-off publish: no mount, no directory, no state record.
    expect(findmnt(interrupted.targetPath)).toBeUndefined();
    expect(exists(interrupted.targetPath)).toBe(false);
    expect(readdirSync(join(stateDir, 'volumes'))).toHaveLength(2);
    expect(privateMounts()).toHaveLength(2);

    // The published ones: same mount, same files, and a republish is an idempotent OK.
    expect(findmnt(certificate.targetPath)?.fstype).toBe('tmpfs');
    await client.nodePublishVolume(publishRequest(certificate, { provider: 'local-ca' }));
    expect(readlinkSync(join(certificate.targetPath, '..data'))).toBe(certificateData);
    expect(readFileSync(join(certificate.targetPath, 'tls.crt'))).toEqual(certificateBytes);

    // The ticker's timer resumed from its state record, with no republish.
    const tickAfterRestart = readFileSync(join(ticking.targetPath, 'tick'), 'utf8');
    await vi.waitFor(
      () => {
        if (readFileSync(join(ticking.targetPath, 'tick'), 'utf8') === tickAfterRestart) throw new Error('no tick yet');
      },
      { timeout: 5000, interval: 100 },
    );

    // Unpublish works across the restart, and again for the volume that was cut off.
    for (const volume of [certificate, ticking, interrupted]) {
      await client.nodeUnpublishVolume({ volume_id: volume.volumeId, target_path: volume.targetPath });
      expect(exists(volume.targetPath)).toBe(false);
    }
    expect(mountsUnder(root)).toEqual([]);
    expect(readdirSync(join(stateDir, 'volumes'))).toEqual([]);
  }, 60_000);
});
