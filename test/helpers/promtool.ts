/**
 * Prometheus's own rule tester, promtool, `go install`ed once into .peers/
 * (pinned): the alert rules and the dashboard's queries are evaluated by real
 * Prometheus code, not by a reimplementation of PromQL.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { installOnce, PEERS_DIR } from './peers.js';

/** Prometheus 3.x is tagged v0.3xx.y as a Go module (v0.316.0 is Prometheus 3.16.0). */
export const PROMTOOL_VERSION = 'v0.316.0';
export const PROMTOOL_MODULE = `github.com/prometheus/prometheus/cmd/promtool@${PROMTOOL_VERSION}`;
/** A cold build (every dependency downloaded and compiled) takes minutes on two cores. */
const INSTALL_TIMEOUT_MS = 30 * 60_000;

/** The promtool binary, built on first use into a directory named after its version. */
export function ensurePromtool(): string {
  const binDir = join(PEERS_DIR, `promtool-${PROMTOOL_VERSION}`);
  const binary = join(binDir, 'promtool');
  installOnce(binary, () => {
    mkdirSync(binDir, { recursive: true });
    // `nice`: the build competes with the other test files for two cores.
    execFileSync('nice', ['-n', '10', 'go', 'install', PROMTOOL_MODULE], {
      env: { ...process.env, GOBIN: binDir, GOWORK: 'off', GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: INSTALL_TIMEOUT_MS,
    });
  });
  return binary;
}

export interface PromtoolResult {
  readonly exitCode: number;
  /** stdout and stderr together, as promtool prints its findings on both. */
  readonly output: string;
}

/** Runs promtool with these arguments in `cwd` (rule files are relative to their test file). */
export function promtool(args: readonly string[], cwd: string): PromtoolResult {
  const result = spawnSync(ensurePromtool(), [...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { exitCode: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}
