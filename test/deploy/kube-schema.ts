/**
 * Offline, schema-aware validation of Kubernetes manifests: each object is
 * checked against the OpenAPI (v2) definitions that Kubernetes itself
 * publishes in api/openapi-spec/swagger.json, taken from the k8s.io/kubernetes
 * Go module at the release the e2e suite runs (fetched through the Go module
 * proxy into the module cache). Strict like `kubectl apply --validate=strict`:
 * unknown fields, wrong types and missing required fields are errors. The
 * OpenAPI document carries no enums, so the enum-like fields our manifests use
 * are checked against the values the API documents for them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const KUBERNETES_MODULE = 'k8s.io/kubernetes@v1.37.2';

interface Schema {
  readonly type?: string;
  readonly format?: string;
  readonly $ref?: string;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly additionalProperties?: Schema | boolean;
  readonly items?: Schema;
  readonly required?: readonly string[];
  readonly 'x-kubernetes-group-version-kind'?: readonly { group: string; version: string; kind: string }[];
}

/** Enum-like string fields (definition.property → allowed values), from the API reference. */
const ENUMS: Readonly<Record<string, readonly string[]>> = {
  'io.k8s.api.core.v1.Container.imagePullPolicy': ['Always', 'IfNotPresent', 'Never'],
  'io.k8s.api.core.v1.VolumeMount.mountPropagation': ['None', 'HostToContainer', 'Bidirectional'],
  'io.k8s.api.core.v1.HostPathVolumeSource.type': ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'],
  'io.k8s.api.core.v1.ContainerPort.protocol': ['TCP', 'UDP', 'SCTP'],
  'io.k8s.api.core.v1.Toleration.operator': ['Exists', 'Equal'],
  'io.k8s.api.core.v1.Toleration.effect': ['NoSchedule', 'PreferNoSchedule', 'NoExecute'],
  'io.k8s.api.core.v1.PodSpec.restartPolicy': ['Always', 'OnFailure', 'Never'],
  'io.k8s.api.core.v1.PodSpec.dnsPolicy': ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'],
  'io.k8s.api.apps.v1.DaemonSetUpdateStrategy.type': ['RollingUpdate', 'OnDelete'],
  'io.k8s.api.storage.v1.CSIDriverSpec.fsGroupPolicy': ['ReadWriteOnceWithFSType', 'File', 'None'],
};
/** Arrays of enum-like strings. */
const ENUM_ITEMS: Readonly<Record<string, readonly string[]>> = {
  'io.k8s.api.storage.v1.CSIDriverSpec.volumeLifecycleModes': ['Persistent', 'Ephemeral'],
};

const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** The path of swagger.json inside the module cache, downloading the module through the Go proxy if needed. */
export function kubernetesOpenApiFile(): string {
  // Outside any module (tmpdir), `go mod download` fetches exactly this module version.
  const output = execFileSync('go', ['mod', 'download', '-json', KUBERNETES_MODULE], {
    cwd: tmpdir(),
    env: { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod' },
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  const { Dir: dir } = JSON.parse(output) as { Dir?: string };
  if (dir === undefined) throw new Error(`go mod download ${KUBERNETES_MODULE} reported no directory: ${output}`);
  return join(dir, 'api', 'openapi-spec', 'swagger.json');
}

export class KubeSchemas {
  private readonly byKind = new Map<string, string>();

  constructor(private readonly definitions: Readonly<Record<string, Schema>>) {
    for (const [name, schema] of Object.entries(definitions)) {
      for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) {
        const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
        // Several definitions list some kinds (e.g. DeleteOptions); the first whose name ends in the kind is the object's.
        if (!this.byKind.has(`${apiVersion}/${gvk.kind}`) || name.endsWith(`.${gvk.kind}`)) this.byKind.set(`${apiVersion}/${gvk.kind}`, name);
      }
    }
  }

  static load(file = kubernetesOpenApiFile()): KubeSchemas {
    const document = JSON.parse(readFileSync(file, 'utf8')) as { definitions: Record<string, Schema> };
    return new KubeSchemas(document.definitions);
  }

  /** Every problem found in one object, each with its JSON path; empty when valid. */
  validate(object: unknown): string[] {
    const problems: string[] = [];
    if (typeof object !== 'object' || object === null) return ['not an object'];
    const { apiVersion, kind, metadata } = object as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; labels?: unknown } };
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['apiVersion and kind are required'];
    const definition = this.byKind.get(`${apiVersion}/${kind}`);
    if (definition === undefined) return [`unknown kind ${apiVersion}/${kind} in Kubernetes ${KUBERNETES_MODULE}`];
    this.check(object, { $ref: `#/definitions/${definition}` }, kind, problems);
    if (typeof metadata?.name !== 'string' || metadata.name.length > 253 || !DNS_SUBDOMAIN.test(metadata.name)) {
      problems.push(`${kind}.metadata.name: ${JSON.stringify(metadata?.name)} is not a DNS subdomain`);
    }
    for (const [key, value] of Object.entries((metadata?.labels ?? {}) as Record<string, unknown>)) {
      if (!LABEL_KEY.test(key)) problems.push(`${kind}.metadata.labels: invalid key ${key}`);
      if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) problems.push(`${kind}.metadata.labels.${key}: invalid value ${JSON.stringify(value)}`);
    }
    return problems;
  }

  private check(value: unknown, schema: Schema, path: string, problems: string[]): void {
    if (schema.$ref !== undefined) {
      const name = schema.$ref.replace('#/definitions/', '');
      const target = this.definitions[name];
      if (target === undefined) {
        problems.push(`${path}: schema ${name} is missing`);
        return;
      }
      if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') {
        if (!(typeof value === 'number' || (typeof value === 'string' && QUANTITY.test(value)))) problems.push(`${path}: ${JSON.stringify(value)} is not a quantity`);
        return;
      }
      this.checkTyped(value, target, path, problems, name);
      return;
    }
    this.checkTyped(value, schema, path, problems, undefined);
  }

  private checkTyped(value: unknown, schema: Schema, path: string, problems: string[], definition: string | undefined): void {
    switch (schema.type) {
      case 'object': {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          problems.push(`${path}: expected an object, got ${JSON.stringify(value)}`);
          return;
        }
        const record = value as Record<string, unknown>;
        for (const required of schema.required ?? []) {
          if (record[required] === undefined) problems.push(`${path}: required field ${required} is missing`);
        }
        if (schema.properties === undefined && typeof schema.additionalProperties !== 'object') return; // free-form
        for (const [key, child] of Object.entries(record)) {
          const property = schema.properties?.[key];
          const childPath = `${path}.${key}`;
          if (property !== undefined) {
            this.checkEnum(child, definition, key, childPath, problems);
            this.check(child, property, childPath, problems);
          } else if (typeof schema.additionalProperties === 'object') {
            this.check(child, schema.additionalProperties, childPath, problems);
          } else {
            problems.push(`${path}: unknown field "${key}"`);
          }
        }
        return;
      }
      case 'array':
        if (!Array.isArray(value)) {
          problems.push(`${path}: expected a list, got ${JSON.stringify(value)}`);
          return;
        }
        value.forEach((item, index) => {
          if (schema.items !== undefined) this.check(item, schema.items, `${path}[${index}]`, problems);
        });
        return;
      case 'string':
        if (schema.format === 'int-or-string' ? !(typeof value === 'string' || Number.isInteger(value)) : typeof value !== 'string') {
          problems.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
        }
        return;
      case 'integer':
        if (!Number.isInteger(value)) problems.push(`${path}: expected an integer, got ${JSON.stringify(value)}`);
        return;
      case 'number':
        if (typeof value !== 'number') problems.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
        return;
      case 'boolean':
        if (typeof value !== 'boolean') problems.push(`${path}: expected true or false, got ${JSON.stringify(value)}`);
        return;
      default:
        return;
    }
  }

  private checkEnum(value: unknown, definition: string | undefined, key: string, path: string, problems: string[]): void {
    if (definition === undefined) return;
    const allowed = ENUMS[`${definition}.${key}`];
    if (allowed !== undefined && !allowed.includes(value as string)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
    const allowedItems = ENUM_ITEMS[`${definition}.${key}`];
    if (allowedItems !== undefined && Array.isArray(value)) {
      for (const item of value) if (!allowedItems.includes(item as string)) problems.push(`${path}: ${JSON.stringify(item)} is not one of ${allowedItems.join(', ')}`);
    }
  }
}
