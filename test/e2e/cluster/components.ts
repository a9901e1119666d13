/**
 * Where the built components live: ${KEYMOUNT_E2E_CACHE:-/var/cache/keymount-e2e}/<component>-<version>/bin, with
 * the versions read from the wrapper modules' go.mod files (the same source build-components.sh uses).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/package-info.js';

export const E2E_ROOT = join(PACKAGE_ROOT, 'test', 'e2e');
export const CACHE_DIR = process.env.KEYMOUNT_E2E_CACHE ?? '/var/cache/keymount-e2e';

/** The version a wrapper module (test/e2e/go/<wrapper>) requires of a module. */
export function pinnedVersion(wrapper: string, module: string): string {
  const goMod = readFileSync(join(E2E_ROOT, 'go', wrapper, 'go.mod'), 'utf8');
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod);
  if (!match?.[1]) throw new Error(`test/e2e/go/${wrapper}/go.mod does not require ${module}`);
  return match[1];
}

export const VERSIONS = {
  kubernetes: pinnedVersion('kube', 'k8s.io/kubernetes'),
  etcd: pinnedVersion('etcd', 'go.etcd.io/etcd/server/v3'),
  containerd: pinnedVersion('containerd', 'github.com/containerd/containerd/v2'),
} as const;

const bin = (component: string, version: string, name: string): string => join(CACHE_DIR, `${component}-${version}`, 'bin', name);

export const BINARIES = {
  etcd: bin('etcd', VERSIONS.etcd, 'etcd'),
  kubeApiserver: bin('kube', VERSIONS.kubernetes, 'kube-apiserver'),
  kubelet: bin('kube', VERSIONS.kubernetes, 'kubelet'),
  kubectl: bin('kube', VERSIONS.kubernetes, 'kubectl'),
  containerd: bin('containerd', VERSIONS.containerd, 'containerd'),
  containerdBinDir: join(CACHE_DIR, `containerd-${VERSIONS.containerd}`, 'bin'),
  ctr: bin('containerd', VERSIONS.containerd, 'ctr'),
} as const;

export const IMAGES = {
  pause: 'keymount.local/pause:e2e',
  busybox: 'keymount.local/busybox:e2e',
} as const;
