/**
 * The e2e cluster's daemons as child processes: each logs to its own file under the run directory, is waited for
 * until a readiness check passes (failing with the tail of its log when it dies or never gets ready), and is
 * stopped by its own process ID, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Daemon {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** True once the process has exited, by itself or through stop(). */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface DaemonSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logDir: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Prints one progress line, so a long e2e run says what it is doing. */
export function progress(message: string): void {
  process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function startDaemon(spec: DaemonSpec): Daemon {
  const logFile = join(spec.logDir, `${spec.name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(spec.command, [...spec.args], {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let done = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
    child.once('error', (error) => {
      done = true;
      progress(`${spec.name}: cannot start ${spec.command}: ${error.message}`);
      resolve();
    });
  });
  progress(`${spec.name}: started (pid ${child.pid ?? '?'}), log ${logFile}`);
  return {
    name: spec.name,
    logFile,
    child,
    exited: () => done,
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** The last lines of a log file, for failure messages. */
export function logTail(file: string, lines = 40): string {
  try {
    // Some daemons log whole machine descriptions on one line: keep each line short enough to read.
    return readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((line) => (line.length > 400 ? `${line.slice(0, 400)} …` : line))
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `ready` until it returns true; fails early when the daemon exits, and after timeoutMs, both with the tail
 * of the daemon's log so the cause is in the test output.
 */
export async function waitReady(daemon: Daemon, ready: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exited()) {
      throw new Error(`${daemon.name} exited (code ${daemon.child.exitCode ?? daemon.child.signalCode}) before it was ready:\n${logTail(daemon.logFile)}`);
    }
    try {
      if (await ready()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${daemon.name} not ready after ${timeoutMs / 1000}s:\n${logTail(daemon.logFile)}`);
    }
    await sleep(250);
  }
}

/** Polls `check` until it returns a value other than undefined, or fails with `describe()` after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) {
      const details = describe();
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}${details ? `\n${details}` : ''}`);
    }
    await sleep(500);
  }
}

export { freePort } from '../../helpers/processes.js';
