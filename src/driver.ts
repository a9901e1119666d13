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
import { backendAnswerLimit, type Clock, type ProviderType } from './provider/contract.js';
import { ProviderRegistry } from './provider/registry.js';
import { checkInstanceSettings, instanceProblemsError } from './provider/settings-check.js';
import { AtomicWriter } from './storage/atomic-writer.js';
import { CommandMounter, type Mounter } from './storage/mounter.js';
import { StateDirPrivateMounts } from './storage/private-mounts.js';
import { FsTargetDirectories } from './storage/target-directory.js';
import { FileStateStore } from './volume/state-store.js';
import { DEFAULT_REFRESH_BACKOFF, VolumeManager, type VolumeManagerLimits } from './volume/volume-manager.js';
import { NO_METRICS, type VolumeMetrics } from './metrics/volume-metrics.js';
import { BUILT_IN_PROVIDER_TYPES } from './provider/built-in.js';
import { startOperatorEndpoints, type OperatorEndpoints } from './health/operator-endpoints.js';
import { trackCalls } from './metrics/call-interceptor.js';
import { ProviderIndexedStore } from './metrics/provider-index.js';
import { KubeletRegistration, type RetryPolicy } from './registration/kubelet-registration.js';

export interface DriverOverrides {
  readonly providerTypes?: readonly ProviderType[];
  readonly logDestination?: DestinationStream;
  readonly mounter?: Mounter;
  readonly clock?: Clock;
  readonly metrics?: VolumeMetrics;
  readonly limits?: Partial<Pick<VolumeManagerLimits, 'refreshBackoffBaseMs' | 'refreshBackoffMaxMs'>>;
  /** Backoff before the registration socket is re-created after the kubelet refused it. */
  readonly registrationRetry?: RetryPolicy;
}

export interface RunningDriver {
  readonly logger: Logger;
  readonly volumes: VolumeManager;
  /** The URL of each operator path served (/metrics, /healthz, /readyz), with the port actually bound. */
  readonly httpUrls: Readonly<Record<string, string>>;
  /** CSI calls received and not yet answered. */
  inFlightCalls(): number;
  /** Graceful: refuses new calls, lets in-flight ones finish within --shutdown-timeout; volumes stay mounted. */
  stop(): Promise<void>;
}

const MOUNT_COMMAND_TIMEOUT_MS = 30_000;

export async function startDriver(config: Config, overrides: DriverOverrides = {}): Promise<RunningDriver> {
  // Every instance's settings, before any side effect: a bad config stops start-up listing every error at once.
  const settingsProblems = checkInstanceSettings(config.providers, overrides.providerTypes ?? BUILT_IN_PROVIDER_TYPES);
  if (settingsProblems.length > 0) throw instanceProblemsError(settingsProblems);
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty, destination: overrides.logDestination });
  const operator = await startOperatorEndpoints(config, logger);
  try {
    return await serve(config, overrides, logger, operator);
  } catch (error) {
    await operator.close();
    throw error;
  }
}

async function serve(config: Config, overrides: DriverOverrides, logger: Logger, operator: OperatorEndpoints): Promise<RunningDriver> {
  const clock: Clock = overrides.clock ?? { now: () => new Date() };
  const fileState = new FileStateStore(config.stateDir, (unusable) => {
    logger.warn({ file: unusable.file, reason: unusable.reason }, 'removed a state record keymount did not write; nothing it names was touched');
  });
  await fileState.init();
  const privateMounts = new StateDirPrivateMounts(config.stateDir);
  privateMounts.init();
  // Remembers each volume's provider instance, so unpublish calls are counted under it.
  const state = new ProviderIndexedStore(fileState);
  const registry = await ProviderRegistry.create(
    config.providers,
    overrides.providerTypes ?? BUILT_IN_PROVIDER_TYPES,
    (instance) => ({ clock, logger: logger.child({ provider: instance }), maxAnswerBytes: backendAnswerLimit(config.maxVolumeSizeBytes) }),
  );
  const volumes = new VolumeManager({
    registry,
    mounter: overrides.mounter ?? new CommandMounter(MOUNT_COMMAND_TIMEOUT_MS),
    privateMounts,
    targets: new FsTargetDirectories(),
    writer: new AtomicWriter(clock),
    state,
    clock,
    logger,
    metrics: overrides.metrics ?? operator.metrics ?? NO_METRICS,
    limits: { maxVolumeSizeBytes: config.maxVolumeSizeBytes, providerTimeoutMs: config.providerTimeoutMs, ...DEFAULT_REFRESH_BACKOFF, ...overrides.limits },
    kubeletRoot: config.kubeletRoot,
  });
  const recovered = await volumes.recover();
  if (recovered.resumed + recovered.cleaned > 0) logger.info(recovered, 'resumed the volumes of an earlier run');

  const calls = trackCalls({
    observe: (call) => operator.metrics?.callFinished(call),
    providerOfVolume: (volumeId) => state.providerOf(volumeId),
  });
  const server = new grpc.Server({ interceptors: [calls.interceptor] });
  const definitions = loadCsiDefinitions();
  addIdentityService(server, definitions, { driverName: config.driverName, vendorVersion: PACKAGE_VERSION, isReady: () => operator.status.isReady() }, logger);
  addNodeService(server, definitions, volumes, { nodeId: config.nodeId }, logger);
  addControllerStub(server, definitions, logger);
  await bindUnixSocket(server, config.socketPath);
  operator.status.set('serving');
  const registration = config.registerWithKubelet
    ? new KubeletRegistration({
        driverName: config.driverName,
        kubeletRoot: config.kubeletRoot,
        endpoint: config.kubeletRegistrationPath,
        logger,
        ...(overrides.registrationRetry ? { retry: overrides.registrationRetry } : {}),
      })
    : undefined;
  await registration?.start().catch(async (error: unknown) => {
    await shutdownServer(server, 0);
    await rm(config.socketPath, { force: true });
    throw error;
  });
  logger.info(
    { endpoint: `unix://${config.socketPath}`, driverName: config.driverName, nodeId: config.nodeId, providers: registry.names, version: PACKAGE_VERSION },
    'keymount is serving',
  );

  // Graceful and idempotent: a second SIGTERM or a test's cleanup gets the same promise.
  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    operator.status.set('stopping');
    logger.info({ inFlight: calls.inFlight(), timeoutMs: config.shutdownTimeoutMs }, 'stopping: refusing new calls, finishing those in flight');
    // Deregister first, so the kubelet stops sending calls to a driver that is going away.
    await registration?.stop();
    const began = performance.now();
    await shutdownServer(server, config.shutdownTimeoutMs);
    if (performance.now() - began >= config.shutdownTimeoutMs) {
      logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'cancelled the calls still running at --shutdown-timeout; their publishes roll back');
    }
    volumes.close();
    await registry.close();
    await rm(config.socketPath, { force: true });
    await operator.close();
    logger.info({}, 'stopped; mounted volumes stay mounted for the next driver');
  };
  return {
    logger,
    volumes,
    httpUrls: operator.urls,
    inFlightCalls: () => calls.inFlight(),
    stop: () => (stopped ??= stop()),
  };
}
