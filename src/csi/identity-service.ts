import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logging/logger.js';
import type { Empty, GetPluginCapabilitiesResponse, GetPluginInfoResponse, ProbeResponse } from './messages.js';
import type { CsiDefinitions } from './proto.js';
import { unary } from './unary.js';

export interface IdentityOptions {
  readonly driverName: string;
  readonly vendorVersion: string;
  /** True once every provider instance is loaded. */
  readonly isReady: () => boolean;
}

export function addIdentityService(server: grpc.Server, definitions: CsiDefinitions, options: IdentityOptions, logger: Logger): void {
  server.addService(definitions.Identity.service, {
    GetPluginInfo: unary<Empty, GetPluginInfoResponse>(
      'GetPluginInfo',
      () => Promise.resolve({ name: options.driverName, vendor_version: options.vendorVersion, manifest: {} }),
      logger,
    ),
    // No CONTROLLER_SERVICE: keymount serves ephemeral inline volumes on the node only.
    GetPluginCapabilities: unary<Empty, GetPluginCapabilitiesResponse>(
      'GetPluginCapabilities',
      () => Promise.resolve({ capabilities: [] }),
      logger,
    ),
    Probe: unary<Empty, ProbeResponse>('Probe', () => Promise.resolve({ ready: { value: options.isReady() } }), logger),
  });
}
