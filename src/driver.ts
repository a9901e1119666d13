/**
 * The composition root: builds every side-effecting part once (mounter,
 * writer, state store, clock, providers, logger) and wires them into the CSI
 * services. Tests call startDriver() with their own parts where the real ones
 * cannot produce a case.
 */
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { DestinationStream } from 'pino';
import type { Config } from './config/config.js';
import { addControllerStub } from './csi/controller-service.js';
import { bindUnixSocket, shutdownServer } from './csi/csi-server.js';
import { addIdentityService } from './csi/identity-service.js';
import { addNodeService } from './csi/node-service.js';
import { loadCsiDefinitions } from './csi/proto.js';
import { createLogger, type Logger } from './logging/logger.js';
import { PACKAGE_VERSION } from './package-info.js';
import type { Clock, ProviderType } from './provider/contract.js';
import { ProviderRegistry } from './provider/registry.js';
import { AtomicWriter } from './storage/atomic-writer.js';
import { CommandMounter, type Mounter } from './storage/mounter.js';
import { FsTargetDirectories } from './storage/target-directory.js';
import { FileStateStore } from './volume/state-store.js';
import { DEFAULT_REFRESH_BACKOFF, VolumeManager, type VolumeManagerLimits } from './volume/volume-manager.js';
import { NO_METRICS, type VolumeMetrics } from './metrics/volume-metrics.js';
import { BUILT_IN_PROVIDER_TYPES } from './provider/built-in.js';

export interface DriverOverrides {
  readonly providerTypes?: readonly ProviderType[];
  readonly logDestination?: DestinationStream;
  readonly mounter?: Mounter;
  readonly clock?: Clock;
  readonly metrics?: VolumeMetrics;
  readonly limits?: Partial<Pick<VolumeManagerLimits, 'refreshBackoffBaseMs' | 'refreshBackoffMaxMs'>>;
}

export interface RunningDriver {
  readonly logger: Logger;
  readonly volumes: VolumeManager;
  stop(): Promise<void>;
}

const MOUNT_COMMAND_TIMEOUT_MS = 30_000;
const SHUTDOWN_GRACE_MS = 5_000;

export async function startDriver(config: Config, overrides: DriverOverrides = {}): Promise<RunningDriver> {
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty, destination: overrides.logDestination });
  const clock: Clock = overrides.clock ?? { now: () => new Date() };
  let ready = false;

  const state = new FileStateStore(config.stateDir);
  await state.init();
  const registry = await ProviderRegistry.create(
    config.providers,
    overrides.providerTypes ?? BUILT_IN_PROVIDER_TYPES,
    (instance) => ({ clock, logger: logger.child({ provider: instance }) }),
  );
  const volumes = new VolumeManager({
    registry,
    mounter: overrides.mounter ?? new CommandMounter(MOUNT_COMMAND_TIMEOUT_MS),
    targets: new FsTargetDirectories(),
    writer: new AtomicWriter(clock),
    state,
    clock,
    logger,
    metrics: overrides.metrics ?? NO_METRICS,
    limits: { maxVolumeSizeBytes: config.maxVolumeSizeBytes, providerTimeoutMs: config.providerTimeoutMs, ...DEFAULT_REFRESH_BACKOFF, ...overrides.limits },
  });
  const recovered = await volumes.recover();
  if (recovered.resumed + recovered.cleaned > 0) logger.info(recovered, 'resumed the volumes of an earlier run');

  const server = new grpc.Server();
  const definitions = loadCsiDefinitions();
  addIdentityService(server, definitions, { driverName: config.driverName, vendorVersion: PACKAGE_VERSION, isReady: () => ready }, logger);
  addNodeService(server, definitions, volumes, { nodeId: config.nodeId }, logger);
  addControllerStub(server, definitions, logger);
  await bindUnixSocket(server, config.socketPath);
  ready = true;
  logger.info(
    { endpoint: `unix://${config.socketPath}`, driverName: config.driverName, nodeId: config.nodeId, providers: registry.names, version: PACKAGE_VERSION },
    'keymount is serving',
  );

  return {
    logger,
    volumes,
    async stop(): Promise<void> {
      ready = false;
      await shutdownServer(server, SHUTDOWN_GRACE_MS);
      volumes.close();
      await registry.close();
      await rm(config.socketPath, { force: true });
    },
  };
}
