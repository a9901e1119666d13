/**
 * Starts the real driver in-process on a temporary unix socket, with a
 * temporary kubelet root and state dir, and a client that calls it over gRPC
 * as the kubelet does. Log lines are captured so tests can check them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, type Config, type ProviderInstanceConfig } from '../../src/config/config.js';
import { CsiClient } from '../../src/csi/csi-client.js';
import { startDriver, type DriverOverrides, type RunningDriver } from '../../src/driver.js';
import type { StringMap } from '../../src/csi/kubelet-context.js';
import type { NodePublishVolumeRequest__Output as NodePublishVolumeRequest } from '../../src/generated/csi/v1/NodePublishVolumeRequest.js';
import { newPodVolume, publishRequest, type PodVolume, type PublishOptions } from './kubelet.js';
import { mountsUnder } from './system.js';

export interface HarnessOptions extends DriverOverrides {
  readonly providers?: Record<string, ProviderInstanceConfig>;
  readonly flags?: Record<string, string>;
}

export interface Harness {
  readonly root: string;
  readonly kubeletRoot: string;
  readonly socketPath: string;
  readonly stateDir: string;
  readonly config: Config;
  readonly driver: RunningDriver;
  readonly client: CsiClient;
  /** Every log line the driver wrote, raw JSON. */
  readonly logLines: string[];
  newVolume(name?: string): PodVolume;
  request(volume: PodVolume, attributes: StringMap, options?: PublishOptions): NodePublishVolumeRequest;
  publish(volume: PodVolume, attributes: StringMap, options?: PublishOptions): Promise<unknown>;
  unpublish(volume: PodVolume): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'keymount-test-'));
  const kubeletRoot = join(root, 'kubelet');
  const socketPath = join(root, 'csi', 'csi.sock');
  const stateDir = join(root, 'state');
  const logLines: string[] = [];
  const configFile = options.providers ? writeProvidersFile(root, options.providers) : undefined;
  const config = buildConfig(
    {
      endpoint: `unix://${socketPath}`,
      'state-dir': stateDir,
      'node-id': 'test-node',
      'log-level': 'debug',
      'kubelet-root': kubeletRoot,
      ...(configFile ? { config: configFile } : {}),
      ...options.flags,
    },
    {},
    false,
  );
  const driver = await startDriver(config, {
    ...options,
    logDestination: { write: (line: string) => logLines.push(line) },
  });
  const client = new CsiClient(socketPath);
  const harness: Harness = {
    root,
    kubeletRoot,
    socketPath,
    stateDir,
    config,
    driver,
    client,
    logLines,
    newVolume: (name) => newPodVolume(kubeletRoot, name),
    request: publishRequest,
    publish: (volume, attributes, publishOptions) => client.nodePublishVolume(publishRequest(volume, attributes, publishOptions)),
    unpublish: (volume) => client.nodeUnpublishVolume({ volume_id: volume.volumeId, target_path: volume.targetPath }),
    async stop() {
      client.close();
      await driver.stop();
      // Never leave a mount behind, even when a test failed half-way.
      for (const mountPoint of mountsUnder(root).reverse()) {
        try {
          execFileSync('umount', [mountPoint]);
        } catch {
          // already gone
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  return harness;
}

function writeProvidersFile(root: string, providers: Record<string, ProviderInstanceConfig>): string {
  const file = join(root, 'keymount.yaml');
  const document = {
    providers: Object.fromEntries(Object.entries(providers).map(([name, instance]) => [name, { type: instance.type, ...instance.settings }])),
  };
  // JSON is valid YAML.
  writeFileSync(file, JSON.stringify(document), { mode: 0o600 });
  return file;
}

/** The gRPC status name and message of a failed call. */
export async function callError(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (error) {
    const { code, details } = error as { code: number; details: string };
    return { code, details };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
