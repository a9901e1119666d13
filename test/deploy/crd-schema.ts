/**
 * Offline validation of Prometheus Operator objects (PodMonitor,
 * PrometheusRule) against the operator's own CustomResourceDefinitions, taken
 * from the github.com/prometheus-operator/prometheus-operator Go module
 * (example/prometheus-operator-crd/) through the Go module proxy. Strict like
 * `kubectl apply --validate=strict`: unknown fields, wrong types, missing
 * required fields, values outside an enum or a pattern are errors.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator@v0.85.0';

/** The part of OpenAPI v3 a CRD's structural schema uses. */
interface CrdSchema {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, CrdSchema>>;
  readonly additionalProperties?: CrdSchema | boolean;
  readonly items?: CrdSchema;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly minLength?: number;
  readonly minimum?: number;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface Crd {
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string };
    readonly versions: readonly { readonly name: string; readonly schema: { readonly openAPIV3Schema: CrdSchema } }[];
  };
}

function operatorDirectory(): string {
  // Outside any module (tmpdir), `go mod download` fetches exactly this module version (about 4 MB).
  const output = execFileSync('go', ['mod', 'download', '-json', PROMETHEUS_OPERATOR_MODULE], {
    cwd: tmpdir(),
    env: { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod' },
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  const { Dir: dir } = JSON.parse(output) as { Dir?: string };
  if (dir === undefined) throw new Error(`go mod download ${PROMETHEUS_OPERATOR_MODULE} reported no directory: ${output}`);
  return dir;
}

export class CrdSchemas {
  private readonly byKind = new Map<string, CrdSchema>();

  constructor(crds: readonly Crd[]) {
    for (const crd of crds) {
      for (const version of crd.spec.versions) this.byKind.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`, version.schema.openAPIV3Schema);
    }
  }

  /** The CRDs of these resources (plural names, e.g. "podmonitors"). */
  static load(resources: readonly string[]): CrdSchemas {
    const directory = join(operatorDirectory(), 'example', 'prometheus-operator-crd');
    return new CrdSchemas(resources.map((resource) => parseYaml(readFileSync(join(directory, `monitoring.coreos.com_${resource}.yaml`), 'utf8')) as Crd));
  }

  /** Every problem found in one object, each with its path; empty when valid. */
  validate(object: { readonly apiVersion: string; readonly kind: string }): string[] {
    const schema = this.byKind.get(`${object.apiVersion}/${object.kind}`);
    if (schema === undefined) return [`no CRD for ${object.apiVersion} ${object.kind} in ${PROMETHEUS_OPERATOR_MODULE}`];
    const problems: string[] = [];
    check(object, schema, object.kind, problems, true);
    return problems;
  }
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function check(value: unknown, schema: CrdSchema, path: string, problems: string[], topLevel = false): void {
  const actual = typeOf(value);
  if (schema['x-kubernetes-int-or-string']) {
    if (actual !== 'integer' && actual !== 'string') problems.push(`${path}: ${JSON.stringify(value)} is neither an integer nor a string`);
    return;
  }
  if (schema.type !== undefined && schema.type !== actual && !(schema.type === 'number' && actual === 'integer')) {
    problems.push(`${path}: ${actual} where the CRD says ${schema.type}`);
    return;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`${path}: shorter than ${schema.minLength}`);
  }
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: below ${schema.minimum}`);
  if (Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    value.forEach((item: unknown, index) => {
      check(item, items, `${path}[${index}]`, problems);
    });
  }
  if (actual !== 'object') return;
  const record = value as Record<string, unknown>;
  for (const required of schema.required ?? []) if (!(required in record)) problems.push(`${path}.${required}: required`);
  for (const [key, child] of Object.entries(record)) {
    const known = schema.properties?.[key];
    if (known !== undefined) check(child, known, `${path}.${key}`, problems);
    else if (typeof schema.additionalProperties === 'object') check(child, schema.additionalProperties, `${path}.${key}`, problems);
    // The API server checks metadata itself (the CRD's schema says only "object"); everything else is strict.
    else if (!(topLevel && key === 'metadata') && schema.additionalProperties !== true && !schema['x-kubernetes-preserve-unknown-fields'] && schema.properties !== undefined) {
      problems.push(`${path}.${key}: unknown field`);
    }
  }
}
