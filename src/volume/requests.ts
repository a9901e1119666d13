import type { PodIdentity, ServiceAccountToken, Sensitive } from '../provider/contract.js';

/** A validated NodePublishVolume, in the domain's terms. */
export interface PublishRequest {
  readonly volumeId: string;
  readonly targetPath: string;
  readonly readOnly: boolean;
  /** The CSI volume_mount_group (the pod's fsGroup), when the kubelet sent one. */
  readonly mountGroup: number | undefined;
  /** volume_context without the service-account tokens. */
  readonly attributes: Readonly<Record<string, string>>;
  readonly pod: PodIdentity;
  readonly tokens: ReadonlyMap<string, ServiceAccountToken>;
  readonly secrets: Sensitive<Readonly<Record<string, string>>>;
}

export interface UnpublishRequest {
  readonly volumeId: string;
  readonly targetPath: string;
}
