/**
 * Starts keymount's real driver (the built dist/) as its own process through
 * bench/driver-process.mjs, so its memory and file descriptors can be read
 * from /proc, and times how long it takes to answer Probe with ready=true.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CsiClient } from '../../src/csi/csi-client.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { sleep } from './concurrency.js';

const FIXTURE = join(PACKAGE_ROOT, 'bench', 'driver-process.mjs');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** The line driver-process.mjs prints after the garbage collection SIGUSR2 asks for. */
const GC_REPORT = 'bench memory';

export interface DriverProcessOptions {
  /** Directory for the socket, state dir, config file and log. */
  readonly directory: string;
  /** The `providers:` map of the config file (JSON is YAML). */
  readonly providers: Record<string, Record<string, unknown>>;
  readonly maxVolumeSize?: string;
  readonly logLevel?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly nodeFlags?: readonly string[];
}

export interface DriverProcess {
  readonly pid: number;
  readonly socketPath: string;
  readonly stateDir: string;
  readonly logFile: string;
  /** From spawn to the first Probe that answered ready=true. */
  readonly startupMs: number;
  /** Asks the driver to run a full garbage collection (SIGUSR2), so memory samples show live data; returns its V8 heap in use after it. */
  collectGarbage(): Promise<number>;
  /**
   * The driver's log lines (JSON records), once the log has stopped growing:
   * the driver's logger writes asynchronously, so a line can land a little after the call it describes.
   */
  logRecords(): Promise<Record<string, unknown>[]>;
  /** SIGTERM, as the kubelet's pod deletion does; volumes stay mounted. */
  stop(): Promise<void>;
}

export async function startDriverProcess(options: DriverProcessOptions): Promise<DriverProcess> {
  const { directory } = options;
  mkdirSync(directory, { recursive: true });
  const socketPath = join(directory, 'csi.sock');
  const stateDir = join(directory, 'state');
  const configFile = join(directory, 'keymount.yaml');
  const logFile = join(directory, 'driver.log');
  writeFileSync(configFile, JSON.stringify({ providers: options.providers }));
  const logFd = openSync(logFile, 'a');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      ...(options.nodeFlags ?? []),
      FIXTURE,
      socketPath,
      stateDir,
      configFile,
      options.maxVolumeSize ?? '64Ki',
      options.logLevel ?? 'info',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the driver process');
  try {
    await waitReady(child, socketPath, logFile);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const startupMs = performance.now() - started;
  return {
    pid,
    socketPath,
    stateDir,
    logFile,
    startupMs,
    async collectGarbage() {
      const before = parseLog(logFile).filter((record) => record.msg === GC_REPORT).length;
      child.kill('SIGUSR2');
      for (let waited = 0; waited < READY_TIMEOUT_MS; waited += 20) {
        await sleep(20);
        const reports = parseLog(logFile).filter((record) => record.msg === GC_REPORT);
        const heapUsed = reports[before]?.heapUsed;
        if (typeof heapUsed === 'number') return heapUsed;
      }
      throw new Error('the driver did not report its memory after SIGUSR2');
    },
    logRecords: () => settledLog(logFile),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits for the socket, then asks Probe (a fresh client, so no connection backoff from earlier attempts skews the time). */
async function waitReady(child: ChildProcess, socketPath: string, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the driver exited with ${child.exitCode}:\n${readFileSync(logFile, 'utf8')}`);
    if (existsSync(socketPath)) {
      const client = new CsiClient(socketPath, 2_000);
      try {
        if ((await client.probe()).ready?.value === true) return;
      } catch {
        // bound but not serving yet
      } finally {
        client.close();
      }
    }
    await sleep(2);
  }
  throw new Error(`the driver was not ready within ${READY_TIMEOUT_MS} ms:\n${readFileSync(logFile, 'utf8')}`);
}

/** Waits until the log file has kept its size for a few polls, then parses it. */
async function settledLog(logFile: string): Promise<Record<string, unknown>[]> {
  const STABLE_POLLS = 4;
  let size = -1;
  for (let stable = 0; stable < STABLE_POLLS; ) {
    await sleep(50);
    const current = statSync(logFile).size;
    stable = current === size ? stable + 1 : 0;
    size = current;
  }
  return parseLog(logFile);
}

function parseLog(logFile: string): Record<string, unknown>[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
