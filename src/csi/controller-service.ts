import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logging/logger.js';
import type { ControllerHandlers } from '../generated/csi/v1/Controller.js';
import type { ControllerGetCapabilitiesRequest__Output } from '../generated/csi/v1/ControllerGetCapabilitiesRequest.js';
import type { ControllerGetCapabilitiesResponse } from '../generated/csi/v1/ControllerGetCapabilitiesResponse.js';
import type { CsiDefinitions } from './proto.js';
import { unary } from './unary.js';

/**
 * A stub, only for csi-sanity: up to v5.4.0 its Node tests' setup calls
 * ControllerGetCapabilities and fails on UNIMPLEMENTED. The answer lists no
 * real capability. The kubelet never calls it, since GetPluginCapabilities
 * does not advertise CONTROLLER_SERVICE.
 */
export function addControllerStub(server: grpc.Server, definitions: CsiDefinitions, logger: Logger): void {
  const handlers: ControllerHandlers = {
    ControllerGetCapabilities: unary<ControllerGetCapabilitiesRequest__Output, ControllerGetCapabilitiesResponse>(
      'ControllerGetCapabilities',
      () => Promise.resolve({ capabilities: [{ rpc: { type: 'UNKNOWN' } }] }),
      logger,
    ),
  };
  server.addService(definitions.Controller.service, handlers);
}
