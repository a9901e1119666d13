/**
 * TypeScript shapes of the CSI messages in proto/csi.proto, as
 * @grpc/proto-loader decodes them with the options in proto.ts (snake_case
 * fields, enums as strings, int64 as strings, defaults filled in, oneof
 * discriminators). Hand-written and checked in; kept in step with the .proto.
 */

export type StringMap = Record<string, string>;

export interface GetPluginInfoResponse {
  name: string;
  vendor_version: string;
  manifest: StringMap;
}

export type PluginServiceType = 'UNKNOWN' | 'CONTROLLER_SERVICE' | 'VOLUME_ACCESSIBILITY_CONSTRAINTS' | 'GROUP_CONTROLLER_SERVICE';

export interface GetPluginCapabilitiesResponse {
  capabilities: { service: { type: PluginServiceType } }[];
}

export interface ProbeResponse {
  ready: { value: boolean } | null;
}

export interface ControllerGetCapabilitiesResponse {
  capabilities: { rpc: { type: 'UNKNOWN' } }[];
}

export type AccessModeName =
  | 'UNKNOWN'
  | 'SINGLE_NODE_WRITER'
  | 'SINGLE_NODE_READER_ONLY'
  | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER'
  | 'MULTI_NODE_MULTI_WRITER'
  | 'SINGLE_NODE_SINGLE_WRITER'
  | 'SINGLE_NODE_MULTI_WRITER';

export interface MountVolume {
  fs_type: string;
  mount_flags: string[];
  volume_mount_group: string;
}

export interface VolumeCapability {
  block?: Record<string, never> | null;
  mount?: MountVolume | null;
  access_mode: { mode: AccessModeName } | null;
  access_type?: 'block' | 'mount';
}

export interface NodePublishVolumeRequest {
  volume_id: string;
  publish_context: StringMap;
  staging_target_path: string;
  target_path: string;
  volume_capability: VolumeCapability | null;
  readonly: boolean;
  secrets: StringMap;
  volume_context: StringMap;
}

export interface NodeUnpublishVolumeRequest {
  volume_id: string;
  target_path: string;
}

export type NodeRpcType = 'UNKNOWN' | 'STAGE_UNSTAGE_VOLUME' | 'GET_VOLUME_STATS' | 'EXPAND_VOLUME' | 'VOLUME_MOUNT_GROUP';

export interface NodeGetCapabilitiesResponse {
  capabilities: { rpc: { type: NodeRpcType } }[];
}

export interface NodeGetInfoResponse {
  node_id: string;
  /** int64, as a decimal string. */
  max_volumes_per_node: string;
  accessible_topology: { segments: StringMap } | null;
}

export type Empty = Record<string, never>;
