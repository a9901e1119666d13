/**
 * The hardening tests' attacker: attacker.c built with the machine's cc into
 * .peers/bin (git-ignored, named by a hash of the source so an edit rebuilds
 * it) and run as its own process, as a root container would act on its volume.
 * Also the provider that keeps the driver refreshing while it runs.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/package-info.js';
import type { Provider, ProviderFile, ProviderType } from '../../../src/provider/contract.js';
import { PEERS_DIR, installOnce } from '../../helpers/peers.js';

const SOURCE = join(PACKAGE_ROOT, 'test', 'hardening', 'attacker', 'attacker.c');

/** Compiles attacker.c once per source version; every test file gets the same binary. */
export function ensureAttacker(): string {
  const source = readFileSync(SOURCE);
  const binDir = join(PEERS_DIR, 'bin');
  const binary = join(binDir, `keymount-attacker-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  installOnce(binary, () => {
    mkdirSync(binDir, { recursive: true });
    const building = `${binary}.${process.pid}.tmp`;
    try {
      execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', building, SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
      renameSync(building, binary);
    } catch (error) {
      throw new Error(`cannot build the hardening tests' attacker from ${SOURCE} with cc (install a C compiler, e.g. gcc)`, { cause: error });
    } finally {
      rmSync(building, { force: true });
    }
  });
  return binary;
}

/** The counters the attacker prints when it ends. */
export interface AttackReport {
  readonly mode: string;
  /** Driver actions it saw and reacted to (fresh data directories, deletions starting). */
  readonly events: number;
  readonly attempts: number;
  /** Exchanges that succeeded: each one redirected the driver's later path-based calls. */
  readonly swaps: number;
  readonly errors: number;
  readonly lastErrno: number;
  readonly lastStep: string;
}

export interface RunningAttacker {
  /** Resolves with the counters once the attacker ends (its time or count ran out). */
  readonly finished: Promise<AttackReport>;
  /** Ends it early; it still reports its counters. A no-op once it has ended. */
  stop(): void;
  /** Ends it at once (cleanup after a failed test). */
  kill(): void;
}

/** Starts the attacker and resolves once its inotify watches are in place. */
export async function startAttacker(args: readonly string[]): Promise<RunningAttacker> {
  const child: ChildProcess = spawn(ensureAttacker(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  const finished = new Promise<AttackReport>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      exited = true;
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`attacker exited with ${code}: ${stderr.trim()}`));
      else resolve(JSON.parse(line) as AttackReport);
    });
  });
  finished.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (stdout.startsWith('ready\n')) resolve();
    };
    child.stdout?.on('data', check);
    void finished.then(() => {
      reject(new Error(`attacker ended before it was ready: ${stderr.trim()}`));
    }, reject);
  });
  return {
    finished,
    stop: () => {
      if (!exited) child.kill('SIGTERM');
    },
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/** A marker inside every file the changing provider serves, to find its content wherever it lands. */
export const SECRET_MARKER = 'keymount-attack-test-private-key';

export interface ChangingBackend {
  /** Fetches answered so far; each one carried new content. */
  fetches: number;
}

/**
 * A backend whose content changes on every fetch and that asks to be called
 * again right away, so the driver's renewal timer refreshes the volume about
 * once a second with no kubelet call. `fileCount` files, as a pod that stored
 * many values in its backend would get.
 */
export function changingProviderType(fileCount: number): { type: ProviderType; backend: ChangingBackend } {
  const backend: ChangingBackend = { fetches: 0 };
  const provider: Provider = {
    type: 'changing',
    attributeKeys: [],
    parseAttributes: () => ({}),
    fetch() {
      backend.fetches++;
      const version = String(backend.fetches);
      const contents = (name: string): Buffer => Buffer.from(`-----BEGIN PRIVATE KEY-----\n${SECRET_MARKER} ${name} v${version}\n-----END PRIVATE KEY-----\n`);
      const names = ['tls.key', 'ca.crt', ...Array.from({ length: Math.max(0, fileCount - 2) }, (_unused, index) => `value-${String(index).padStart(3, '0')}`)];
      const files: ProviderFile[] = names.map((path) => ({ path, contents: contents(path) }));
      return Promise.resolve({ files, versions: { value: version }, refreshAt: new Date(Date.now() + 1) });
    },
  };
  return { type: { type: 'changing', create: () => Promise.resolve(provider) }, backend };
}
