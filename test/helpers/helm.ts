/**
 * Helm for the deploy tests: `go install`ed once into .peers/bin (pinned), run
 * with its cache and config under .peers/ so nothing outside the repo is used.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { installOnce, PEERS_DIR } from './peers.js';

/** The newest Helm 3 release that builds with the Go toolchain here (1.26). */
export const HELM_MODULE = 'helm.sh/helm/v3/cmd/helm@v3.22.0';
export const CHART_DIR = join(PACKAGE_ROOT, 'deploy', 'helm', 'keymount');
/** `go install` builds Helm without its release ldflags, so its default Kubernetes version is v1.20; say ours. */
export const KUBE_VERSION = '1.37.0';
const INSTALL_TIMEOUT_MS = 20 * 60_000;

export function ensureHelm(): string {
  const binDir = join(PEERS_DIR, 'bin');
  const binary = join(binDir, 'helm');
  installOnce(binary, () => {
    mkdirSync(binDir, { recursive: true });
    // Building Helm takes minutes on two cores; `nice` leaves room for the other test files.
    execFileSync('nice', ['-n', '10', 'go', 'install', HELM_MODULE], {
      env: { ...process.env, GOBIN: binDir },
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: INSTALL_TIMEOUT_MS,
    });
  });
  return binary;
}

/** Environment that keeps Helm's cache, config and data under .peers/helm. */
export function helmEnv(): NodeJS.ProcessEnv {
  const home = join(PEERS_DIR, 'helm');
  return {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
}

export function helm(args: readonly string[]): string {
  return execFileSync(ensureHelm(), [...args], { cwd: PACKAGE_ROOT, env: helmEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface RenderOptions {
  /** `--set` pairs. */
  readonly set?: Readonly<Record<string, string>>;
  /** Values files. */
  readonly values?: readonly string[];
  readonly namespace?: string;
}

/** `helm template keymount deploy/helm/keymount …`: the rendered YAML text. */
export function helmTemplate(options: RenderOptions = {}): string {
  const args = ['template', 'keymount', CHART_DIR, '--namespace', options.namespace ?? 'keymount', '--kube-version', KUBE_VERSION];
  for (const file of options.values ?? []) args.push('--values', file);
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${value}`);
  return helm(args);
}

/** The Kubernetes objects of a multi-document YAML text (empty documents dropped). */
export function objectsOf(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors.map((error) => error.message).join('; ')}`);
      return document.toJS() as unknown;
    })
    .filter((value): value is KubeObject => typeof value === 'object' && value !== null);
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}
