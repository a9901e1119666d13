/**
 * Typed views of the rendered objects, and the cross-field rules of pod specs
 * that the API server enforces beyond the schema (names that refer to each
 * other, privilege rules), so a render that would be refused fails here first.
 */
import type { KubeObject } from '../helpers/helm.js';

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly mountPropagation?: string;
  readonly readOnly?: boolean;
}

export interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: string | number };
}

export interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly env?: readonly { readonly name: string; readonly value?: string; readonly valueFrom?: unknown }[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly volumeMounts?: readonly VolumeMount[];
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly resources?: { readonly requests?: Record<string, unknown>; readonly limits?: Record<string, unknown> };
  readonly securityContext?: {
    readonly privileged?: boolean;
    readonly allowPrivilegeEscalation?: boolean;
    readonly readOnlyRootFilesystem?: boolean;
    readonly runAsUser?: number;
    readonly capabilities?: { readonly drop?: readonly string[] };
  };
}

export interface Volume {
  readonly name: string;
  readonly hostPath?: { readonly path: string; readonly type?: string };
  readonly configMap?: { readonly name: string };
  readonly secret?: { readonly secretName: string };
  readonly csi?: { readonly driver: string; readonly readOnly?: boolean; readonly volumeAttributes?: Record<string, string> };
}

export interface PodSpec {
  readonly containers: readonly Container[];
  readonly volumes?: readonly Volume[];
  readonly tolerations?: readonly { readonly operator?: string; readonly key?: string }[];
  readonly priorityClassName?: string;
  readonly serviceAccountName?: string;
  readonly automountServiceAccountToken?: boolean;
  readonly terminationGracePeriodSeconds?: number;
  readonly hostNetwork?: boolean;
}

export function podSpecOf(object: KubeObject): PodSpec {
  if (object.kind === 'Pod') return object.spec as PodSpec;
  return (object.spec as { template: { spec: PodSpec } }).template.spec;
}

export function containerNamed(spec: PodSpec, name: string): Container | undefined {
  return spec.containers.find((container) => container.name === name);
}

export function volumeNamed(spec: PodSpec, name: string): Volume | undefined {
  return (spec.volumes ?? []).find((volume) => volume.name === name);
}

/** The value of `--flag=value` in a container's args. */
export function flagValue(container: Container, flag: string): string | undefined {
  const prefix = `--${flag}=`;
  return container.args?.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

/** The host path behind a path inside a container (through its hostPath mounts), if any. */
export function hostPathOf(spec: PodSpec, container: Container, path: string): string | undefined {
  for (const mount of container.volumeMounts ?? []) {
    const host = volumeNamed(spec, mount.name)?.hostPath?.path;
    if (host === undefined) continue;
    if (path === mount.mountPath) return host;
    if (path.startsWith(`${mount.mountPath}/`)) return `${host}${path.slice(mount.mountPath.length)}`;
  }
  return undefined;
}

/** Problems the API server would report for this pod spec beyond its schema. */
export function podSpecProblems(spec: PodSpec): string[] {
  const problems: string[] = [];
  const volumeNames = (spec.volumes ?? []).map((volume) => volume.name);
  duplicates(volumeNames).forEach((name) => problems.push(`volume ${name} is declared twice`));
  duplicates(spec.containers.map((container) => container.name)).forEach((name) => problems.push(`container ${name} is declared twice`));
  for (const container of spec.containers) {
    const where = `container ${container.name}`;
    const portNames = (container.ports ?? []).flatMap((port) => (port.name === undefined ? [] : [port.name]));
    duplicates(portNames).forEach((name) => problems.push(`${where}: port name ${name} is declared twice`));
    for (const name of portNames) if (name.length > 15 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) problems.push(`${where}: port name ${name} is not an IANA service name`);
    duplicates((container.volumeMounts ?? []).map((mount) => mount.mountPath)).forEach((path) => problems.push(`${where}: two mounts at ${path}`));
    for (const mount of container.volumeMounts ?? []) {
      if (!volumeNames.includes(mount.name)) problems.push(`${where}: mounts undeclared volume ${mount.name}`);
      if (mount.mountPropagation === 'Bidirectional' && container.securityContext?.privileged !== true) {
        problems.push(`${where}: Bidirectional mount propagation needs a privileged container`);
      }
    }
    const security = container.securityContext;
    if (security?.privileged === true && security.allowPrivilegeEscalation === false) problems.push(`${where}: privileged with allowPrivilegeEscalation false is refused`);
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      const port = probe?.httpGet?.port;
      // The kubelet resolves a named probe port among the same container's ports.
      if (typeof port === 'string' && !portNames.includes(port)) problems.push(`${where}: probe port ${port} is not one of its ports`);
    }
  }
  return problems;
}

function duplicates(values: readonly string[]): string[] {
  return values.filter((value, index) => values.indexOf(value) !== index);
}
