/**
 * A real node beside the control plane: containerd v2 (with Debian's runc) and the kubelet, every path under the
 * run directory, every port on 127.0.0.1. The images come from OCI archives built locally and imported with ctr.
 * Pods use the host network (no CNI) and are bound with spec.nodeName (no scheduler).
 *
 * The host has cgroup v1 only, which kubelet 1.35+ refuses unless failCgroupV1 is false; its pod cgroups go under a
 * per-run cgroupRoot that teardown removes.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BINARIES, IMAGES } from './components.js';
import { NODE_NAME, type ControlPlane } from './control-plane.js';
import { eventually, freePort, progress, startDaemon, waitReady, type Daemon } from './processes.js';

export interface Node {
  readonly name: string;
  readonly kubeletRoot: string;
  readonly containerdSocket: string;
  readonly containerd: Daemon;
  readonly kubelet: Daemon;
  /** ctr against this node's containerd, in the CRI namespace. */
  ctr(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface NodeOptions {
  /** Directory holding pause.tar and busybox.tar (build-images.sh). */
  readonly imagesDir: string;
  /** How often the kubelet re-syncs pods; republish of requiresRepublish volumes follows it. */
  readonly syncFrequency?: string;
}

function run(command: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

function containerdConfig(dir: string, socket: string): string {
  const runtime = "plugins.'io.containerd.cri.v1.runtime'";
  return [
    'version = 3',
    `root = '${join(dir, 'root')}'`,
    `state = '${join(dir, 'state')}'`,
    // NRI would open a socket under /var/run; nothing here uses it.
    "disabled_plugins = ['io.containerd.nri.v1.nri']",
    '[grpc]',
    `  address = '${socket}'`,
    '[ttrpc]',
    `  address = '${socket}.ttrpc'`,
    "[plugins.'io.containerd.internal.v1.opt']",
    `  path = '${join(dir, 'opt')}'`,
    "[plugins.'io.containerd.cri.v1.images']",
    "  snapshotter = 'overlayfs'",
    "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
    `  sandbox = '${IMAGES.pause}'`,
    `[${runtime}]`,
    // Without CAP_SYS_RESOURCE (this VM's root lacks it) no process may lower its oom_score_adj, which the kubelet
    // asks for the pause container (-998): clamp every container to containerd's own score instead.
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    "  cdi_spec_dirs = []",
    '  enable_cdi = false',
    `[${runtime}.containerd]`,
    "  default_runtime_name = 'runc'",
    `[${runtime}.containerd.runtimes.runc]`,
    "  runtime_type = 'io.containerd.runc.v2'",
    `[${runtime}.containerd.runtimes.runc.options]`,
    `  BinaryName = '${process.env.KEYMOUNT_E2E_RUNC ?? '/usr/sbin/runc'}'`,
    `  Root = '${join(dir, 'runc')}'`,
    '  SystemdCgroup = false',
    `[${runtime}.cni]`,
    `  bin_dirs = ['${join(dir, 'cni-bin')}']`,
    `  conf_dir = '${join(dir, 'cni-conf')}'`,
    "[plugins.'io.containerd.grpc.v1.cri']",
    "  stream_server_address = '127.0.0.1'",
    "  stream_server_port = '0'",
    '',
  ].join('\n');
}

function kubeletConfig(plane: ControlPlane, root: string, port: number, socket: string, cgroupRoot: string, syncFrequency: string): string {
  const { pki } = plane;
  const lines = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port,
    readOnlyPort: 0,
    healthzPort: 0,
    tlsCertFile: pki.kubeletServing.cert,
    tlsPrivateKeyFile: pki.kubeletServing.key,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: pki.ca.cert } },
    authorization: { mode: 'AlwaysAllow' },
    containerRuntimeEndpoint: `unix://${socket}`,
    // The kubelet's own default (-999) needs CAP_SYS_RESOURCE too.
    oomScoreAdj: 0,
    cgroupDriver: 'cgroupfs',
    cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
    staticPodPath: '',
    syncFrequency,
    podLogsDir: join(root, 'pod-logs'),
    volumePluginDir: join(root, 'volume-plugins'),
    resolvConf: '',
    // The machine's disk is shared with everyone's builds; never evict test pods over it.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    registerNode: true,
    serializeImagePulls: false,
    logging: { format: 'text' },
  };
  return JSON.stringify(lines, null, 2);
}

/** The IDs of the containerd shims this run's containerd started (their command line names its socket). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0]?.endsWith('containerd-shim-runc-v2') && cmdline.includes(socket)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * The kubelet wants its cgroupRoot to exist in every hierarchy. A new v1 cpuset starts with no CPUs and no memory
 * nodes, so it gets the root's before anything can join it.
 */
function createCgroups(cgroupRoot: string): void {
  const base = '/sys/fs/cgroup';
  for (const hierarchy of readdirSync(base)) {
    const dir = join(base, hierarchy, cgroupRoot);
    mkdirSync(dir, { recursive: true });
    if (hierarchy === 'cpuset') {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, file), readFileSync(join(base, hierarchy, file), 'utf8'));
    }
  }
}

/** Removes a cgroup directory tree depth-first in every v1 hierarchy (cgroup dirs can only be rmdir'ed empty). */
function removeCgroups(cgroupRoot: string): void {
  const base = '/sys/fs/cgroup';
  const remove = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      const child = join(dir, entry);
      if (statSync(child).isDirectory()) remove(child);
    }
    try {
      rmdirSync(dir);
    } catch (error) {
      progress(`cannot remove cgroup ${dir}: ${(error as Error).message}`);
    }
  };
  for (const hierarchy of readdirSync(base)) remove(join(base, hierarchy, cgroupRoot));
}

/**
 * Paths the kubelet and containerd create whatever their configured roots: the device-plugin socket directory
 * (fixed in the kubelet) and the shims' socket directory (fixed in containerd).
 */
const FIXED_HOST_PATHS = ['/var/lib/kubelet', '/run/containerd'];

export async function startNode(plane: ControlPlane, options: NodeOptions): Promise<Node> {
  const createdHostPaths = FIXED_HOST_PATHS.filter((path) => !existsSync(path));
  const dir = join(plane.runDir, 'containerd');
  const kubeletRoot = join(plane.runDir, 'kubelet');
  const socket = join(dir, 'containerd.sock');
  const cgroupRoot = `/keymount-e2e-${plane.runDir.split('-').at(-1) ?? 'run'}`;
  mkdirSync(dir, { recursive: true });
  mkdirSync(kubeletRoot, { recursive: true });
  const daemons: Daemon[] = [];
  const ctr = (args: readonly string[]): Promise<string> => run(BINARIES.ctr, ['--address', socket, '--namespace', 'k8s.io', ...args]);

  const stop = async (): Promise<void> => {
    const [containerd, kubelet] = daemons;
    if (kubelet) await kubelet.stop(20_000);
    if (containerd && !containerd.exited()) {
      // Pods the kubelet did not get to stop: kill their tasks so no container outlives the run.
      try {
        for (const id of (await ctr(['tasks', 'list', '-q'])).split('\n').filter(Boolean)) {
          await ctr(['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
        }
        await sleep(500);
        for (const id of (await ctr(['tasks', 'list', '-q'])).split('\n').filter(Boolean)) await ctr(['tasks', 'delete', '-f', id]).catch(() => undefined);
        for (const id of (await ctr(['containers', 'list', '-q'])).split('\n').filter(Boolean)) await ctr(['containers', 'delete', id]).catch(() => undefined);
      } catch (error) {
        progress(`container clean-up: ${(error as Error).message}`);
      }
      await containerd.stop();
    }
    for (const pid of shimPids(socket)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    removeCgroups(cgroupRoot);
    for (const path of createdHostPaths) rmSync(path, { recursive: true, force: true });
  };

  try {
    createCgroups(cgroupRoot);
    const configFile = join(dir, 'config.toml');
    writeFileSync(configFile, containerdConfig(dir, socket));
    const containerd = startDaemon({
      name: 'containerd',
      command: BINARIES.containerd,
      args: ['--config', configFile, '--log-level', 'info'],
      logDir: plane.logDir,
      env: { ...process.env, PATH: `${BINARIES.containerdBinDir}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    daemons.push(containerd);
    await waitReady(containerd, async () => (await run(BINARIES.ctr, ['--address', socket, 'version'], 5000)).includes('Server:'), 60_000);
    for (const archive of ['pause.tar', 'busybox.tar']) {
      await ctr(['images', 'import', '--platform', 'linux/amd64', join(options.imagesDir, archive)]);
    }
    progress(`containerd ready; images: ${(await ctr(['images', 'list', '-q'])).split('\n').filter((ref) => ref.startsWith('keymount.local/')).join(', ')}`);

    const port = await freePort();
    const kubeletConfigFile = join(plane.runDir, 'kubelet-config.json');
    writeFileSync(kubeletConfigFile, kubeletConfig(plane, kubeletRoot, port, socket, cgroupRoot, options.syncFrequency ?? '10s'));
    const kubelet = startDaemon({
      name: 'kubelet',
      command: BINARIES.kubelet,
      logDir: plane.logDir,
      args: [
        `--config=${kubeletConfigFile}`,
        `--kubeconfig=${plane.kubeletKubeconfig}`,
        `--root-dir=${kubeletRoot}`,
        `--hostname-override=${NODE_NAME}`,
        '--node-ip=127.0.0.1',
        '--v=2',
      ],
    });
    daemons.push(kubelet);
    await waitReady(kubelet, async () => {
      const node = (await plane.get(`/api/v1/nodes/${NODE_NAME}`)) as { status?: { conditions?: { type: string; status: string }[] } };
      return (node.status?.conditions ?? []).length > 0;
    }, 120_000);
    // The kubelet refuses to report a loopback node IP ("nodeIP can't be loopback address") and, because that check
    // fails, leaves the addresses as they are: so set the one the apiserver must dial for exec and logs.
    await plane.kubectl([
      'patch', 'node', NODE_NAME, '--subresource=status', '--type=merge',
      '-p', JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: NODE_NAME }] } }),
    ]);
    progress(`kubelet registered node ${NODE_NAME} (kubelet port ${port})`);
    return { name: NODE_NAME, kubeletRoot, containerdSocket: socket, containerd, kubelet, ctr, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits until the kubelet reports the CSI driver in its CSINode object (it registered through plugins_registry). */
export async function waitForCsiNode(plane: ControlPlane, driverName: string, timeoutMs = 60_000): Promise<void> {
  await eventually(
    `CSINode ${NODE_NAME} to list ${driverName}`,
    async () => {
      const csiNode = (await plane.get(`/apis/storage.k8s.io/v1/csinodes/${NODE_NAME}`)) as { spec?: { drivers?: { name: string }[] | null } };
      return (csiNode.spec?.drivers ?? []).some((driver) => driver.name === driverName) ? true : undefined;
    },
    timeoutMs,
  );
}
