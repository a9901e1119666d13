/**
 * CSI Node service: each handler validates the request, then calls the
 * volume manager. No filesystem, mount or provider calls here.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logging/logger.js';
import type { VolumeManager } from '../volume/volume-manager.js';
import { POD_NAME, POD_NAMESPACE } from './kubelet-context.js';
import type { NodeHandlers } from '../generated/csi/v1/Node.js';
import type { NodeGetCapabilitiesRequest__Output } from '../generated/csi/v1/NodeGetCapabilitiesRequest.js';
import type { NodeGetCapabilitiesResponse } from '../generated/csi/v1/NodeGetCapabilitiesResponse.js';
import type { NodeGetInfoRequest__Output } from '../generated/csi/v1/NodeGetInfoRequest.js';
import type { NodeGetInfoResponse } from '../generated/csi/v1/NodeGetInfoResponse.js';
import type { NodePublishVolumeRequest__Output } from '../generated/csi/v1/NodePublishVolumeRequest.js';
import type { NodePublishVolumeResponse } from '../generated/csi/v1/NodePublishVolumeResponse.js';
import type { NodeUnpublishVolumeRequest__Output } from '../generated/csi/v1/NodeUnpublishVolumeRequest.js';
import type { NodeUnpublishVolumeResponse } from '../generated/csi/v1/NodeUnpublishVolumeResponse.js';
import type { CsiDefinitions } from './proto.js';
import { excerptIfLong } from '../untrusted-text.js';
import { unary } from './unary.js';
import { toPublishRequest, toUnpublishRequest } from './validate.js';

export interface NodeOptions {
  readonly nodeId: string;
}

export function addNodeService(
  server: grpc.Server,
  definitions: CsiDefinitions,
  volumes: VolumeManager,
  options: NodeOptions,
  logger: Logger,
): void {
  const handlers: NodeHandlers = {
    NodePublishVolume: unary<NodePublishVolumeRequest__Output, NodePublishVolumeResponse>(
      'NodePublishVolume',
      async (request, { signal }) => {
        await volumes.publish(toPublishRequest(request), signal);
        return {};
      },
      logger,
      (request) => ({
        volumeId: request.volume_id,
        targetPath: request.target_path,
        pod: `${request.volume_context[POD_NAMESPACE] ?? '?'}/${request.volume_context[POD_NAME] ?? '?'}`,
        provider: excerptIfLong(request.volume_context.provider),
      }),
    ),
    NodeUnpublishVolume: unary<NodeUnpublishVolumeRequest__Output, NodeUnpublishVolumeResponse>(
      'NodeUnpublishVolume',
      async (request) => {
        await volumes.unpublish(toUnpublishRequest(request));
        return {};
      },
      logger,
      (request) => ({ volumeId: request.volume_id, targetPath: request.target_path }),
    ),
    // VOLUME_MOUNT_GROUP: the kubelet passes the pod's fsGroup, and keymount makes it the files' group.
    NodeGetCapabilities: unary<NodeGetCapabilitiesRequest__Output, NodeGetCapabilitiesResponse>(
      'NodeGetCapabilities',
      () => Promise.resolve({ capabilities: [{ rpc: { type: 'VOLUME_MOUNT_GROUP' } }] }),
      logger,
    ),
    NodeGetInfo: unary<NodeGetInfoRequest__Output, NodeGetInfoResponse>(
      'NodeGetInfo',
      () => Promise.resolve({ node_id: options.nodeId, max_volumes_per_node: '0', accessible_topology: null }),
      logger,
    ),
  };
  server.addService(definitions.Node.service, handlers);
}
