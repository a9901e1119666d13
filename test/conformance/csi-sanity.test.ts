/**
 * The official CSI conformance suite, csi-sanity v5.4.0, against the real
 * driver. It has no notion of ephemeral volumes, so the tests that publish a
 * volume it created through a Controller cannot apply to a node-only driver;
 * each skip below names its reason.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { ensureCsiSanity } from '../helpers/peers.js';
import { join } from '../helpers/system.js';

/** What csi-sanity checks that cannot apply to keymount, with why. */
const SKIPS: readonly [pattern: string, reason: string][] = [
  ['Controller Service', 'keymount has no Controller service; the only Controller method is the stub csi-sanity itself needs'],
  ['NodeStageVolume', 'keymount does not stage: ephemeral inline volumes only get NodePublishVolume'],
  ['NodeUnstageVolume', 'keymount does not stage'],
  ['should work', 'these publish a volume created through CreateVolume, which a node-only ephemeral driver does not have'],
  ['should be idempotent', 'publishes a volume created through CreateVolume'],
  ['should remove target path', 'publishes a volume created through CreateVolume before unpublishing it; keymount\'s own suite checks that unpublish removes the target'],
  ['NodeGetVolumeStats', 'keymount does not advertise GET_VOLUME_STATS; the suite exercises it on a created volume'],
  ['NodeExpandVolume', 'keymount does not advertise EXPAND_VOLUME'],
];

interface SanityRun {
  exitCode: number | null;
  output: string;
}

function runSanity(binary: string, args: string[]): Promise<SanityRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => {
      resolve({ exitCode, output });
    });
  });
}

describe('csi-sanity v5.4.0 against keymount', () => {
  let harness: Harness;
  let binary: string;

  beforeAll(async () => {
    binary = ensureCsiSanity();
    harness = await startHarness();
  }, 20 * 60_000);
  afterAll(async () => {
    await harness.stop();
  });

  it('passes every conformance test that applies to a node-only ephemeral driver', async () => {
    const sanityDir = join(harness.root, 'sanity');
    mkdirSync(sanityDir, { recursive: true });
    const run = await runSanity(binary, [
      `--csi.endpoint=unix://${harness.socketPath}`,
      `--csi.mountdir=${join(sanityDir, 'mount')}`,
      `--csi.stagingdir=${join(sanityDir, 'staging')}`,
      `-ginkgo.skip=${SKIPS.map(([pattern]) => pattern).join('|')}`,
      '-ginkgo.no-color',
    ]);
    const summary = /Ran (\d+) of (\d+) Specs[\s\S]*?(\d+) Passed \| (\d+) Failed/.exec(run.output);
    if (run.exitCode !== 0 || summary === null) process.stdout.write(run.output);
    expect(run.exitCode).toBe(0);
    expect(summary).not.toBeNull();
    const [, ran = '0', , passed = '0', failed = '0'] = summary ?? [];
    expect(Number(failed)).toBe(0);
    // The Identity, NodeGetInfo, NodeGetCapabilities and argument-validation tests must have run.
    expect(Number(ran)).toBeGreaterThanOrEqual(10);
    expect(Number(passed)).toBe(Number(ran));
  }, 10 * 60_000);
});
