/**
 * Builds the NodePublishVolume request the kubelet would send for an inline
 * volume, so `keymount publish` (and the tests) can try a volume spec without
 * Kubernetes.
 */
import { createHash } from 'node:crypto';
import type { StringMap } from '../csi/kubelet-context.js';
import type { NodePublishVolumeRequest__Output } from '../generated/csi/v1/NodePublishVolumeRequest.js';
import {
  EPHEMERAL,
  POD_NAME,
  POD_NAMESPACE,
  POD_UID,
  SERVICE_ACCOUNT_NAME,
  SERVICE_ACCOUNT_TOKENS,
} from '../csi/kubelet-context.js';

export interface InlineVolumeSpec {
  readonly volumeId: string;
  readonly targetPath: string;
  readonly podNamespace: string;
  readonly podName: string;
  readonly podUid: string;
  readonly serviceAccount: string;
  readonly attributes: StringMap;
  readonly readOnly: boolean;
  /** The pod's fsGroup, sent as volume_mount_group. */
  readonly fsGroup?: string;
  /** Service-account tokens by audience. */
  readonly tokens?: StringMap;
  readonly secrets?: StringMap;
  /** When the tokens expire (the kubelet's expirationTimestamp). */
  readonly tokenExpiry?: Date;
}

/** The CLI's volume ID: derived from the target so publish and unpublish agree without extra flags. */
export function volumeIdFor(targetPath: string): string {
  return `csi-${createHash('sha256').update(targetPath).digest('hex')}`;
}

export function kubeletPublishRequest(spec: InlineVolumeSpec): NodePublishVolumeRequest__Output {
  const context: StringMap = {
    ...spec.attributes,
    [POD_NAME]: spec.podName,
    [POD_NAMESPACE]: spec.podNamespace,
    [POD_UID]: spec.podUid,
    [SERVICE_ACCOUNT_NAME]: spec.serviceAccount,
    [EPHEMERAL]: 'true',
  };
  const tokens = spec.tokens ?? {};
  if (Object.keys(tokens).length > 0) {
    context[SERVICE_ACCOUNT_TOKENS] = JSON.stringify(
      Object.fromEntries(
        Object.entries(tokens).map(([audience, token]) => [
          audience,
          { token, expirationTimestamp: (spec.tokenExpiry ?? new Date(Date.now() + 3_600_000)).toISOString() },
        ]),
      ),
    );
  }
  return {
    volume_id: spec.volumeId,
    publish_context: {},
    staging_target_path: '',
    target_path: spec.targetPath,
    volume_capability: {
      mount: { fs_type: '', mount_flags: [], volume_mount_group: spec.fsGroup ?? '' },
      access_mode: { mode: 'SINGLE_NODE_WRITER' },
    },
    readonly: spec.readOnly,
    secrets: spec.secrets ?? {},
    volume_context: context,
  };
}
