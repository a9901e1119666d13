/**
 * keymount as the node runs it: the built CLI (`dist/`) serving on the socket the kubelet's plugin directory
 * holds, registering itself with the kubelet, with a provider config file. Restartable, since the e2e suite
 * restarts it under running pods.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CsiClient } from '../../../src/csi/csi-client.js';
import { PACKAGE_ROOT } from '../../../src/package-info.js';
import { startDaemon, waitReady, type Daemon } from './processes.js';

export const DRIVER_NAME = 'keymount.csi.io';

export interface KeymountOptions {
  readonly kubeletRoot: string;
  readonly runDir: string;
  readonly logDir: string;
  readonly nodeId: string;
  /** Provider instances, written to the --config file as they are. */
  readonly providers: Record<string, unknown>;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Keymount {
  readonly socketPath: string;
  readonly stateDir: string;
  readonly configFile: string;
  /** The running process (replaced by restart()). */
  daemon(): Daemon;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startKeymount(options: KeymountOptions): Promise<Keymount> {
  const socketPath = join(options.kubeletRoot, 'plugins', DRIVER_NAME, 'csi.sock');
  const stateDir = join(options.runDir, 'keymount-state');
  const configFile = join(options.runDir, 'keymount.yaml');
  mkdirSync(join(options.kubeletRoot, 'plugins', DRIVER_NAME), { recursive: true });
  writeFileSync(configFile, stringify({ providers: options.providers }));
  let generation = 0;
  const launch = async (): Promise<Daemon> => {
    generation += 1;
    const daemon = startDaemon({
      name: generation === 1 ? 'keymount' : `keymount-${generation}`,
      command: process.execPath,
      args: [
        join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'),
        'serve',
        '--endpoint', `unix://${socketPath}`,
        '--state-dir', stateDir,
        '--node-id', options.nodeId,
        // keymount registers itself in the kubelet's plugins_registry (node-driver-registrar is not on the proxy).
        '--register-with-kubelet', 'true',
        '--kubelet-root', options.kubeletRoot,
        '--config', configFile,
        '--log-level', 'debug',
      ],
      logDir: options.logDir,
      cwd: PACKAGE_ROOT,
      env: { ...process.env, ...options.env },
    });
    const client = new CsiClient(socketPath, 2000);
    try {
      await waitReady(daemon, async () => (await client.probe()).ready?.value === true, 60_000);
    } finally {
      client.close();
    }
    return daemon;
  };
  let current = await launch();
  return {
    socketPath,
    stateDir,
    configFile,
    daemon: () => current,
    async restart() {
      await current.stop();
      current = await launch();
    },
    stop: () => current.stop(),
  };
}
