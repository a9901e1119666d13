import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { errnoCode } from '../errors.js';

/**
 * Binds a gRPC server to a unix socket that only root can use (the kubelet
 * runs as root). A socket left by a previous run is removed first; anything
 * else at that path is refused rather than deleted.
 */
export async function bindUnixSocket(server: grpc.Server, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o750 });
  const existing = await lstat(socketPath).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  });
  if (existing !== undefined) {
    if (!existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
    await rm(socketPath);
  }
  // The umask makes the socket 0600 from the moment it exists; chmod afterwards states it explicitly.
  const previousUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  } finally {
    process.umask(previousUmask);
  }
  await chmod(socketPath, 0o600);
}

export async function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
