/**
 * Core dumps off for the driver process: a dump would hold provider tokens,
 * passwords and private keys, written wherever the node's core_pattern says.
 * Node.js has no setrlimit, so util-linux's prlimit sets RLIMIT_CORE to 0
 * (soft and hard, so nothing in the process can raise it again) on our own pid.
 */
import { execFileSync } from 'node:child_process';

const PRLIMIT_TIMEOUT_MS = 5_000;

/** Sets RLIMIT_CORE to 0:0 for this process. Returns why it could not, or undefined on success. */
export function disableCoreDumps(): string | undefined {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), '--core=0:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: PRLIMIT_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    return undefined;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (failure.code === 'ENOENT') return 'prlimit (util-linux) is not installed';
    const stderr = failure.stderr?.toString('utf8').trim().slice(0, 200);
    return stderr !== undefined && stderr !== '' ? `prlimit failed: ${stderr}` : `prlimit failed: ${failure.message.slice(0, 200)}`;
  }
}
