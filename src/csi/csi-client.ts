/**
 * A typed CSI client, speaking to the driver the way the kubelet does. Used by
 * `keymount publish|unpublish` and by the tests.
 */
import * as grpc from '@grpc/grpc-js';
import type { GetPluginInfoResponse__Output } from '../generated/csi/v1/GetPluginInfoResponse.js';
import type { IdentityClient } from '../generated/csi/v1/Identity.js';
import type { NodeClient } from '../generated/csi/v1/Node.js';
import type { NodeGetCapabilitiesResponse__Output } from '../generated/csi/v1/NodeGetCapabilitiesResponse.js';
import type { NodeGetInfoResponse__Output } from '../generated/csi/v1/NodeGetInfoResponse.js';
import type { NodePublishVolumeRequest } from '../generated/csi/v1/NodePublishVolumeRequest.js';
import type { NodePublishVolumeResponse__Output } from '../generated/csi/v1/NodePublishVolumeResponse.js';
import type { NodeUnpublishVolumeRequest } from '../generated/csi/v1/NodeUnpublishVolumeRequest.js';
import type { NodeUnpublishVolumeResponse__Output } from '../generated/csi/v1/NodeUnpublishVolumeResponse.js';
import type { ProbeResponse__Output } from '../generated/csi/v1/ProbeResponse.js';
import { loadCsiDefinitions } from './proto.js';

/** Starts one unary call with the given options; the generated clients' methods fit this with a small arrow. */
type StartCall<Response> = (options: grpc.CallOptions, callback: grpc.requestCallback<Response>) => grpc.ClientUnaryCall;

export class CsiClient {
  private readonly identity: IdentityClient;
  private readonly node: NodeClient;

  constructor(
    socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {
    const definitions = loadCsiDefinitions();
    const address = `unix://${socketPath}`;
    const credentials = grpc.credentials.createInsecure();
    this.identity = new definitions.Identity(address, credentials);
    this.node = new definitions.Node(address, credentials);
  }

  getPluginInfo(): Promise<GetPluginInfoResponse__Output> {
    return this.call((options, callback) => this.identity.GetPluginInfo({}, options, callback));
  }

  probe(): Promise<ProbeResponse__Output> {
    return this.call((options, callback) => this.identity.Probe({}, options, callback));
  }

  nodeGetInfo(): Promise<NodeGetInfoResponse__Output> {
    return this.call((options, callback) => this.node.NodeGetInfo({}, options, callback));
  }

  nodeGetCapabilities(): Promise<NodeGetCapabilitiesResponse__Output> {
    return this.call((options, callback) => this.node.NodeGetCapabilities({}, options, callback));
  }

  nodePublishVolume(request: NodePublishVolumeRequest, timeoutMs?: number): Promise<NodePublishVolumeResponse__Output> {
    return this.call((options, callback) => this.node.NodePublishVolume(request, options, callback), timeoutMs);
  }

  nodeUnpublishVolume(request: NodeUnpublishVolumeRequest, timeoutMs?: number): Promise<NodeUnpublishVolumeResponse__Output> {
    return this.call((options, callback) => this.node.NodeUnpublishVolume(request, options, callback), timeoutMs);
  }

  close(): void {
    this.identity.close();
    this.node.close();
  }

  private call<Response>(start: StartCall<Response>, timeoutMs = this.timeoutMs): Promise<Response> {
    return new Promise((resolve, reject) => {
      start({ deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(error);
        else if (response === undefined) reject(new Error('the CSI call succeeded without a response message'));
        else resolve(response);
      });
    });
  }
}
