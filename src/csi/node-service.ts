/**
 * CSI Node service: each handler validates the request, then calls the
 * volume manager. No filesystem, mount or provider calls here.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logging/logger.js';
import type { VolumeManager } from '../volume/volume-manager.js';
import { POD_NAME, POD_NAMESPACE } from './kubelet-context.js';
import type {
  Empty,
  NodeGetCapabilitiesResponse,
  NodeGetInfoResponse,
  NodePublishVolumeRequest,
  NodeUnpublishVolumeRequest,
} from './messages.js';
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
  server.addService(definitions.Node.service, {
    NodePublishVolume: unary<NodePublishVolumeRequest, Empty>(
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
    NodeUnpublishVolume: unary<NodeUnpublishVolumeRequest, Empty>(
      'NodeUnpublishVolume',
      async (request) => {
        await volumes.unpublish(toUnpublishRequest(request));
        return {};
      },
      logger,
      (request) => ({ volumeId: request.volume_id, targetPath: request.target_path }),
    ),
    // VOLUME_MOUNT_GROUP: the kubelet passes the pod's fsGroup, and keymount makes it the files' group.
    NodeGetCapabilities: unary<Empty, NodeGetCapabilitiesResponse>(
      'NodeGetCapabilities',
      () => Promise.resolve({ capabilities: [{ rpc: { type: 'VOLUME_MOUNT_GROUP' } }] }),
      logger,
    ),
    NodeGetInfo: unary<Empty, NodeGetInfoResponse>(
      'NodeGetInfo',
      () => Promise.resolve({ node_id: options.nodeId, max_volumes_per_node: '0', accessible_topology: null }),
      logger,
    ),
  });
}
