import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logging/logger.js';
import type { GetPluginCapabilitiesRequest__Output } from '../generated/csi/v1/GetPluginCapabilitiesRequest.js';
import type { GetPluginCapabilitiesResponse } from '../generated/csi/v1/GetPluginCapabilitiesResponse.js';
import type { GetPluginInfoRequest__Output } from '../generated/csi/v1/GetPluginInfoRequest.js';
import type { GetPluginInfoResponse } from '../generated/csi/v1/GetPluginInfoResponse.js';
import type { IdentityHandlers } from '../generated/csi/v1/Identity.js';
import type { ProbeRequest__Output } from '../generated/csi/v1/ProbeRequest.js';
import type { ProbeResponse } from '../generated/csi/v1/ProbeResponse.js';
import type { CsiDefinitions } from './proto.js';
import { unary } from './unary.js';

export interface IdentityOptions {
  readonly driverName: string;
  readonly vendorVersion: string;
  /** True once every provider instance is loaded. */
  readonly isReady: () => boolean;
}

export function addIdentityService(server: grpc.Server, definitions: CsiDefinitions, options: IdentityOptions, logger: Logger): void {
  const handlers: IdentityHandlers = {
    GetPluginInfo: unary<GetPluginInfoRequest__Output, GetPluginInfoResponse>(
      'GetPluginInfo',
      () => Promise.resolve({ name: options.driverName, vendor_version: options.vendorVersion, manifest: {} }),
      logger,
    ),
    // No CONTROLLER_SERVICE: keymount serves ephemeral inline volumes on the node only.
    GetPluginCapabilities: unary<GetPluginCapabilitiesRequest__Output, GetPluginCapabilitiesResponse>(
      'GetPluginCapabilities',
      () => Promise.resolve({ capabilities: [] }),
      logger,
    ),
    Probe: unary<ProbeRequest__Output, ProbeResponse>('Probe', () => Promise.resolve({ ready: { value: options.isReady() } }), logger),
  };
  server.addService(definitions.Identity.service, handlers);
}
