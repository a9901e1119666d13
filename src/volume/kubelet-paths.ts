/**
 * The shape of the target paths the kubelet hands an inline CSI volume:
 * <kubelet-root>/pods/<pod UID>/volumes/kubernetes.io~csi/<volume name>/mount.
 * A state record's path is honoured only in that shape, so a record planted
 * or altered by anyone but keymount cannot point recovery at other paths.
 */
import { posix } from 'node:path';

/** A pod UID or volume name as the kubelet writes it in a path: one plain element. */
const PATH_ELEMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export function isKubeletTargetPath(targetPath: string, kubeletRoot: string): boolean {
  if (posix.normalize(targetPath) !== targetPath) return false;
  const prefix = `${posix.normalize(kubeletRoot).replace(/\/+$/, '')}/pods/`;
  if (!targetPath.startsWith(prefix)) return false;
  const rest = targetPath.slice(prefix.length).split('/');
  if (rest.length !== 5) return false;
  const [podUid, volumes, plugin, volumeName, mount] = rest;
  return (
    volumes === 'volumes' &&
    plugin === 'kubernetes.io~csi' &&
    mount === 'mount' &&
    podUid !== undefined &&
    PATH_ELEMENT.test(podUid) &&
    volumeName !== undefined &&
    PATH_ELEMENT.test(volumeName)
  );
}
