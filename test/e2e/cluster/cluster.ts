/**
 * The whole single-node cluster for stage 2: control plane, containerd + kubelet, keymount serving in the kubelet's
 * plugin directory and registered with it, and the CSIDriver object. Teardown deletes the test pods first (so keymount
 * unpublishes their volumes through the real kubelet), then stops everything in reverse order and cleans the run
 * directory, reporting any mount it had to remove.
 */
import { join } from 'node:path';
import { NODE_NAME, startControlPlane, type ControlPlane } from './control-plane.js';
import { allProvidersCsiDriver, toYaml } from './deploy-manifests.js';
import { DRIVER_NAME, startKeymount, type Keymount } from './keymount.js';
import { startNode, waitForCsiNode, type Node } from './node.js';
import { createCa, type KeyPair } from './pki.js';
import { progress } from './processes.js';
import { cleanRunDir, createRunDir } from './run-dir.js';

export interface Cluster {
  readonly runDir: string;
  readonly plane: ControlPlane;
  readonly node: Node;
  readonly keymount: Keymount;
  /** The CA keymount's local-ca instance signs with. */
  readonly localCa: KeyPair;
  /** Stops everything; returns the mounts teardown found still in place below the run directory. */
  stop(): Promise<string[]>;
}

export interface ClusterOptions {
  readonly imagesDir: string;
  /** Provider instances besides local-ca, as in keymount's --config file. */
  readonly providers?: Record<string, unknown>;
  /** Environment for the keymount process (e.g. AWS endpoints). */
  readonly keymountEnv?: NodeJS.ProcessEnv;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const runDir = createRunDir();
  progress(`run directory ${runDir}`);
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<string[]> => {
    for (const step of stops.reverse()) {
      try {
        await step();
      } catch (error) {
        progress(`teardown: ${(error as Error).message}`);
      }
    }
    return cleanRunDir(runDir);
  };
  try {
    const plane = await startControlPlane(runDir);
    stops.push(() => plane.stop());
    // The chart's CSIDriver with every provider configured: requiresRepublish, and tokens for AWS and Vault.
    await plane.kubectl(['apply', '-f', '-'], toYaml([allProvidersCsiDriver()]));
    progress('applied the CSIDriver rendered from deploy/helm/keymount with values-all-providers.yaml');

    const node = await startNode(plane, { imagesDir: options.imagesDir });
    stops.push(() => node.stop());

    const localCa = createCa(join(runDir, 'local-ca'), 'ca', 'keymount-e2e local-ca');
    const keymount = await startKeymount({
      kubeletRoot: node.kubeletRoot,
      runDir,
      logDir: plane.logDir,
      nodeId: NODE_NAME,
      providers: {
        // A short minimum so republish-driven refreshes show within a test's patience.
        'local-ca': { type: 'local-ca', caCertFile: localCa.cert, caKeyFile: localCa.key, minRefreshInterval: '5s' },
        ...options.providers,
      },
      env: options.keymountEnv,
    });
    stops.push(() => keymount.stop());

    await waitForCsiNode(plane, DRIVER_NAME);
    progress(`keymount registered with the kubelet (CSINode ${NODE_NAME} lists ${DRIVER_NAME})`);

    // Runs first at teardown: pods go through the real unpublish path while keymount still serves.
    stops.push(async () => {
      const namespaces = (await plane.kubectl(['get', 'pods', '-A', '-o', 'jsonpath={.items[*].metadata.namespace}'])).split(/\s+/).filter(Boolean);
      for (const namespace of new Set(namespaces)) {
        await plane.kubectl(['delete', 'pods', '--all', '-n', namespace, '--wait=true', '--timeout=90s']);
      }
    });
    return { runDir, plane, node, keymount, localCa, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
