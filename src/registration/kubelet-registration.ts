/**
 * Registers keymount with the kubelet without the node-driver-registrar
 * sidecar: serves the kubelet's plugin-registration API on
 * <kubelet-root>/plugins_registry/<driver>-reg.sock. The kubelet dials each
 * socket that appears there, asks GetInfo, checks the CSI endpoint, and
 * reports the outcome with NotifyRegistrationStatus.
 *
 * When the kubelet reports a failure, the socket is removed and created again
 * after a growing backoff: a new socket is what makes the kubelet try again
 * (the sidecar gets the same effect by exiting and being restarted).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { bindUnixSocket, shutdownServer } from '../csi/csi-server.js';
import type { Logger } from '../logging/logger.js';
import type { PluginInfo } from '../generated/pluginregistration/PluginInfo.js';
import type { RegistrationHandlers } from '../generated/pluginregistration/Registration.js';
import type { RegistrationStatus__Output } from '../generated/pluginregistration/RegistrationStatus.js';
import { loadRegistrationService } from './proto.js';

/** The plugin type the kubelet's CSI handler registers. */
const CSI_PLUGIN_TYPE = 'CSIPlugin';

/** The CSI versions keymount speaks, in the form the kubelet compares (it accepts any 1.x). */
const SUPPORTED_CSI_VERSIONS: readonly string[] = ['1.0.0'];

export interface RetryPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_REGISTRATION_RETRY: RetryPolicy = { baseMs: 2_000, maxMs: 120_000 };

export interface KubeletRegistrationOptions {
  readonly driverName: string;
  readonly kubeletRoot: string;
  /** The CSI socket path as the kubelet sees it. */
  readonly endpoint: string;
  readonly logger: Logger;
  readonly retry?: RetryPolicy;
}

const SHUTDOWN_GRACE_MS = 1_000;

export class KubeletRegistration {
  readonly socketPath: string;
  private readonly service = loadRegistrationService().service;
  private readonly retry: RetryPolicy;
  private server: grpc.Server | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  /** A re-creation is scheduled; further failure reports (from the old socket) add nothing. */
  private recreating = false;

  constructor(private readonly options: KubeletRegistrationOptions) {
    this.socketPath = join(options.kubeletRoot, 'plugins_registry', `${options.driverName}-reg.sock`);
    this.retry = options.retry ?? DEFAULT_REGISTRATION_RETRY;
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    const handlers: RegistrationHandlers = {
      GetInfo: (_call, callback) => {
        this.options.logger.debug({ registrationSocket: this.socketPath }, 'kubelet asked for the plugin info');
        callback(null, this.info());
      },
      NotifyRegistrationStatus: (call, callback) => {
        callback(null, {});
        this.onStatus(call.request);
      },
    };
    server.addService(this.service, handlers);
    await bindUnixSocket(server, this.socketPath);
    this.server = server;
    this.options.logger.info({ registrationSocket: this.socketPath, endpoint: this.options.endpoint }, 'waiting for the kubelet to register keymount');
  }

  /** Removes the socket, which deregisters the plugin; mounted volumes are not affected. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.close();
  }

  private info(): PluginInfo {
    return { type: CSI_PLUGIN_TYPE, name: this.options.driverName, endpoint: this.options.endpoint, supported_versions: [...SUPPORTED_CSI_VERSIONS] };
  }

  private onStatus(status: RegistrationStatus__Output): void {
    if (status.plugin_registered) {
      this.failures = 0;
      this.options.logger.info({ driverName: this.options.driverName, endpoint: this.options.endpoint }, 'registered with the kubelet');
      return;
    }
    this.failures++;
    const delayMs = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (this.failures - 1));
    this.options.logger.error(
      { registrationError: status.error, failures: this.failures, retryInMs: delayMs, registrationSocket: this.socketPath },
      'the kubelet refused the registration; the registration socket is created again after a backoff so the kubelet retries',
    );
    if (this.stopped || this.recreating) return;
    this.recreating = true;
    // Let the answer to this call go out before the server goes away.
    setImmediate(() => {
      void this.recreateAfter(delayMs);
    });
  }

  private async recreateAfter(delayMs: number): Promise<void> {
    await this.close();
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      this.start().then(
        () => {
          this.recreating = false;
        },
        (error: unknown) => {
        this.options.logger.error({ err: error, registrationSocket: this.socketPath }, 'cannot re-create the registration socket');
          void this.recreateAfter(this.retry.maxMs);
        },
      );
    }, delayMs);
  }

  private async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await shutdownServer(server, SHUTDOWN_GRACE_MS);
    await rm(this.socketPath, { force: true });
  }
}
