/** Small process and port helpers shared by the test peers (moto, OpenBao, the e2e cluster). */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Binds `port` on 127.0.0.1 (0 = any) and releases it again; resolves with the port the kernel gave. */
export function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const bound = server.address();
      const chosen = typeof bound === 'object' && bound !== null ? bound.port : 0;
      server.close(() => {
        resolve(chosen);
      });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return listenOnce(0);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
