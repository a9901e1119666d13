/**
 * Field-by-field validation of CSI requests, before anything touches the
 * node. Each refusal is INVALID_ARGUMENT and names the field, so the message
 * in `kubectl describe pod` says what to fix.
 */
import { isAbsolute, normalize } from 'node:path';
import { invalidArgument } from '../errors.js';
import { excerpt } from '../untrusted-text.js';
import { Sensitive } from '../provider/contract.js';
import type { PublishRequest, UnpublishRequest } from '../volume/requests.js';
import { parseGid } from '../volume/volume-spec.js';
import type { NodePublishVolumeRequest__Output } from '../generated/csi/v1/NodePublishVolumeRequest.js';
import type { NodeUnpublishVolumeRequest__Output } from '../generated/csi/v1/NodeUnpublishVolumeRequest.js';
import type { _csi_v1_VolumeCapability_AccessMode_Mode__Output as AccessModeName } from '../generated/csi/v1/VolumeCapability.js';
import { EPHEMERAL, SERVICE_ACCOUNT_TOKENS, podIdentityFrom, serviceAccountTokensFrom, type StringMap } from './kubelet-context.js';

export const MAX_VOLUME_ID_BYTES = 256;
export const MAX_PATH_BYTES = 4096;
export const MAX_ATTRIBUTE_VALUE_BYTES = 256 * 1024;
export const MAX_ATTRIBUTES_TOTAL_BYTES = 1024 * 1024;

/** Access modes that make sense for a volume private to one pod on one node. */
const SINGLE_NODE_MODES: ReadonlySet<AccessModeName> = new Set([
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
]);

function requireVolumeId(volumeId: string): string {
  if (volumeId === '') throw invalidArgument('volume_id is required');
  if (Buffer.byteLength(volumeId) > MAX_VOLUME_ID_BYTES) throw invalidArgument(`volume_id is longer than ${MAX_VOLUME_ID_BYTES} bytes`);
  if (volumeId.includes('\0')) throw invalidArgument('volume_id contains a NUL byte');
  return volumeId;
}

function requireTargetPath(targetPath: string): string {
  if (targetPath === '') throw invalidArgument('target_path is required');
  if (targetPath.includes('\0')) throw invalidArgument('target_path contains a NUL byte');
  if (Buffer.byteLength(targetPath) > MAX_PATH_BYTES) throw invalidArgument(`target_path is longer than ${MAX_PATH_BYTES} bytes`);
  if (!isAbsolute(targetPath)) throw invalidArgument(`target_path ${JSON.stringify(targetPath)} must be absolute`);
  const normalized = normalize(targetPath).replace(/(.)\/$/, '$1');
  if (normalized !== targetPath || targetPath === '/') {
    throw invalidArgument(`target_path ${JSON.stringify(targetPath)} must be a clean path (no "..", "." or repeated "/")`);
  }
  return targetPath;
}

/** "volumeAttributes.objects" for a plain key; a pod's odd or huge key only as an excerpt. */
function attributeField(key: string): string {
  return /^[\w./-]{1,64}$/.test(key) ? `volumeAttributes.${key}` : `volumeAttributes[${excerpt(key)}]`;
}

function checkAttributeSizes(context: StringMap): void {
  let total = 0;
  for (const [key, value] of Object.entries(context)) {
    const bytes = Buffer.byteLength(key) + Buffer.byteLength(value);
    total += bytes;
    if (key !== SERVICE_ACCOUNT_TOKENS && Buffer.byteLength(value) > MAX_ATTRIBUTE_VALUE_BYTES) {
      throw invalidArgument(`${attributeField(key)} is ${Buffer.byteLength(value)} bytes, over the limit of ${MAX_ATTRIBUTE_VALUE_BYTES}`);
    }
  }
  if (total > MAX_ATTRIBUTES_TOTAL_BYTES) {
    throw invalidArgument(`volumeAttributes total ${total} bytes, over the limit of ${MAX_ATTRIBUTES_TOTAL_BYTES}`);
  }
}

export function toPublishRequest(request: NodePublishVolumeRequest__Output): PublishRequest {
  const volumeId = requireVolumeId(request.volume_id);
  const targetPath = requireTargetPath(request.target_path);
  const capability = request.volume_capability;
  if (capability === null) throw invalidArgument('volume_capability is required');
  if (capability.block) throw invalidArgument('volume_capability is a block volume; keymount serves files and supports only mount volumes');
  const mount = capability.mount;
  if (!mount) throw invalidArgument('volume_capability must be a mount volume');
  const mode = capability.access_mode?.mode ?? 'UNKNOWN';
  if (!SINGLE_NODE_MODES.has(mode)) {
    throw invalidArgument(`volume_capability.access_mode ${mode} is not supported; keymount volumes are single-node (SINGLE_NODE_WRITER or SINGLE_NODE_READER_ONLY)`);
  }
  if (mount.fs_type !== '' && mount.fs_type !== 'tmpfs') {
    throw invalidArgument(`volume_capability.mount.fs_type ${excerpt(mount.fs_type)} is not supported; leave fsType empty (keymount always uses tmpfs)`);
  }
  if (mount.mount_flags.length > 0) {
    throw invalidArgument('volume_capability.mount.mount_flags are not supported; keymount chooses the tmpfs flags itself');
  }
  const mountGroup = parseGid(mount.volume_mount_group === '' ? undefined : mount.volume_mount_group, 'volume_capability.mount.volume_mount_group');
  const context = request.volume_context;
  if (context[EPHEMERAL] !== 'true') {
    throw invalidArgument(
      `volume_context.${EPHEMERAL} is not "true": keymount serves only CSI ephemeral inline volumes (a csi: volume in the pod spec), not PersistentVolumes`,
    );
  }
  checkAttributeSizes(context);
  const pod = podIdentityFrom(context);
  const tokens = serviceAccountTokensFrom(request.secrets, context);
  const attributes = Object.fromEntries(Object.entries(context).filter(([key]) => key !== SERVICE_ACCOUNT_TOKENS));
  const secrets = Object.fromEntries(Object.entries(request.secrets).filter(([key]) => key !== SERVICE_ACCOUNT_TOKENS));
  return {
    volumeId,
    targetPath,
    readOnly: request.readonly,
    mountGroup,
    attributes,
    pod,
    tokens,
    secrets: new Sensitive(secrets),
  };
}

export function toUnpublishRequest(request: NodeUnpublishVolumeRequest__Output): UnpublishRequest {
  return { volumeId: requireVolumeId(request.volume_id), targetPath: requireTargetPath(request.target_path) };
}
