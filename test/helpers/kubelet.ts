/** Lays out volumes and builds requests exactly as the kubelet does for an inline CSI volume. */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeletPublishRequest } from '../../src/cli/kubelet-request.js';
import type { StringMap } from '../../src/csi/kubelet-context.js';
import type { NodePublishVolumeRequest__Output as NodePublishVolumeRequest } from '../../src/generated/csi/v1/NodePublishVolumeRequest.js';

export interface PodVolume {
  readonly podUid: string;
  readonly volumeName: string;
  readonly volumeId: string;
  readonly targetPath: string;
}

/** Creates <kubelet-root>/pods/<uid>/volumes/kubernetes.io~csi/<vol>/ (the parent the kubelet creates) and names `mount` in it. */
export function newPodVolume(kubeletRoot: string, volumeName = 'secrets'): PodVolume {
  const podUid = randomUUID();
  const parent = join(kubeletRoot, 'pods', podUid, 'volumes', 'kubernetes.io~csi', volumeName);
  mkdirSync(parent, { recursive: true, mode: 0o750 });
  writeFileSync(join(parent, 'vol_data.json'), JSON.stringify({ driverName: 'keymount.csi.io', specVolID: volumeName }));
  // The kubelet's volume ID for an inline volume.
  const volumeId = `csi-${createHash('sha256').update(podUid + volumeName).digest('hex')}`;
  return { podUid, volumeName, volumeId, targetPath: join(parent, 'mount') };
}

export interface PublishOptions {
  readonly namespace?: string;
  readonly podName?: string;
  readonly serviceAccount?: string;
  readonly readOnly?: boolean;
  readonly mountGroup?: string;
  readonly tokens?: StringMap;
  readonly secrets?: StringMap;
}

export function publishRequest(volume: PodVolume, attributes: StringMap, options: PublishOptions = {}): NodePublishVolumeRequest {
  return kubeletPublishRequest({
    volumeId: volume.volumeId,
    targetPath: volume.targetPath,
    podNamespace: options.namespace ?? 'shop',
    podName: options.podName ?? 'web-0',
    podUid: volume.podUid,
    serviceAccount: options.serviceAccount ?? 'web',
    attributes,
    readOnly: options.readOnly ?? false,
    fsGroup: options.mountGroup,
    tokens: options.tokens,
    secrets: options.secrets,
  });
}
