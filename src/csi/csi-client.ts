/**
 * A typed CSI client, speaking to the driver the way the kubelet does. Used by
 * `keymount publish|unpublish` and by the tests.
 */
import * as grpc from '@grpc/grpc-js';
import type {
  Empty,
  GetPluginInfoResponse,
  NodeGetCapabilitiesResponse,
  NodeGetInfoResponse,
  NodePublishVolumeRequest,
  NodeUnpublishVolumeRequest,
  ProbeResponse,
} from './messages.js';
import { loadCsiDefinitions } from './proto.js';

type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: Response) => void,
) => grpc.ClientUnaryCall;

export class CsiClient {
  private readonly identity: grpc.Client;
  private readonly node: grpc.Client;

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

  getPluginInfo(): Promise<GetPluginInfoResponse> {
    return this.call(this.identity, 'GetPluginInfo', {});
  }

  probe(): Promise<ProbeResponse> {
    return this.call(this.identity, 'Probe', {});
  }

  nodeGetInfo(): Promise<NodeGetInfoResponse> {
    return this.call(this.node, 'NodeGetInfo', {});
  }

  nodeGetCapabilities(): Promise<NodeGetCapabilitiesResponse> {
    return this.call(this.node, 'NodeGetCapabilities', {});
  }

  nodePublishVolume(request: Partial<NodePublishVolumeRequest>, timeoutMs?: number): Promise<Empty> {
    return this.call(this.node, 'NodePublishVolume', request, timeoutMs);
  }

  nodeUnpublishVolume(request: NodeUnpublishVolumeRequest, timeoutMs?: number): Promise<Empty> {
    return this.call(this.node, 'NodeUnpublishVolume', request, timeoutMs);
  }

  close(): void {
    this.identity.close();
    this.node.close();
  }

  private call<Response>(client: grpc.Client, method: string, request: object, timeoutMs = this.timeoutMs): Promise<Response> {
    const invoke = (client as unknown as Record<string, UnaryMethod<object, Response> | undefined>)[method];
    if (invoke === undefined) return Promise.reject(new Error(`no CSI method ${method}`));
    return new Promise((resolve, reject) => {
      invoke.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(error);
        else resolve(response);
      });
    });
  }
}
