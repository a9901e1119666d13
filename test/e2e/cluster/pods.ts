/**
 * Test pods as a user writes them: a busybox container that mounts one keymount inline volume, bound to the e2e
 * node with spec.nodeName, on the host network (no CNI on this node), running as a non-root user whose fsGroup
 * lets it read the files.
 */
import { IMAGES } from './components.js';
import { NODE_NAME } from './control-plane.js';
import { DRIVER_NAME } from './keymount.js';

export const MOUNT_PATH = '/etc/keymount';
export const VOLUME_NAME = 'secrets';

export interface PodSpecOptions {
  readonly namespace: string;
  readonly name: string;
  readonly serviceAccount: string;
  readonly volumeAttributes: Readonly<Record<string, string>>;
}

export function podManifest(options: PodSpecOptions): string {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: options.name, namespace: options.namespace },
    spec: {
      nodeName: NODE_NAME,
      hostNetwork: true,
      serviceAccountName: options.serviceAccount,
      // The projected API token needs the kube-root-ca.crt ConfigMap that only the controller-manager publishes.
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
      containers: [
        {
          name: 'app',
          image: IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
          volumeMounts: [{ name: VOLUME_NAME, mountPath: MOUNT_PATH, readOnly: true }],
        },
      ],
      volumes: [{ name: VOLUME_NAME, csi: { driver: DRIVER_NAME, readOnly: true, volumeAttributes: options.volumeAttributes } }],
    },
  };
  return JSON.stringify(pod);
}

/** Where the kubelet asks the driver to mount the pod's inline volume. */
export function targetPath(kubeletRoot: string, podUid: string): string {
  return `${kubeletRoot}/pods/${podUid}/volumes/kubernetes.io~csi/${VOLUME_NAME}/mount`;
}
