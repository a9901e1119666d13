/**
 * Checks every provider instance's settings against its type's schema before
 * any instance is created, so an admin sees every error at once (in
 * `keymount check-config` and at start-up) instead of one per crash-loop.
 */
import type { z, ZodType } from 'zod';
import { COMMON_INSTANCE_SETTINGS, type InstanceProblem, type ProviderInstanceConfig } from '../config/config.js';

export { describeInstanceProblem, instanceProblemsError, type InstanceProblem } from '../config/config.js';
import { closestMatch } from '../suggest.js';
import { InvalidSettings, type ProviderType } from './contract.js';

/** Pure: the type and settings of every instance, checked against the types' schemas. */
export function checkInstanceSettings(
  config: Readonly<Record<string, ProviderInstanceConfig>>,
  types: readonly ProviderType[],
): InstanceProblem[] {
  const typesByName = new Map(types.map((type) => [type.type, type]));
  return Object.entries(config).flatMap(([instance, { type: typeName, settings }]) => {
    const type = typesByName.get(typeName);
    if (type === undefined) {
      const suggestion = closestMatch(typeName, [...typesByName.keys()]);
      return [
        {
          instance,
          type: typeName,
          setting: 'type',
          message: `unknown type "${typeName.slice(0, 80)}"${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}; known types: ${[...typesByName.keys()].join(', ')}`,
        },
      ];
    }
    if (type.settingsSchema === undefined) return [];
    const result = type.settingsSchema.safeParse(settings);
    if (result.success) return [];
    return result.error.issues.flatMap((issue) =>
      problemsOfIssue(issue, type.settingsSchema as ZodType).map((problem) => ({ instance, type: typeName, ...problem })),
    );
  });
}

/** What create() threw, as a problem of the instance: InvalidSettings names the setting in its detail already. */
export function creationProblem(instance: string, type: string, error: unknown): InstanceProblem {
  const message = error instanceof InvalidSettings ? error.detail : error instanceof Error ? error.message : String(error);
  return { instance, type, setting: '', message };
}

function problemsOfIssue(issue: z.core.$ZodIssue, schema: ZodType): { setting: string; message: string }[] {
  const where = settingPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    // At the top level, the settings keymount reads from every instance are known too ("namespace" → "namespaces").
    const known = [...keysAt(schema, issue.path), ...(issue.path.length === 0 ? COMMON_INSTANCE_SETTINGS : [])];
    return issue.keys.map((key) => {
      const suggestion = closestMatch(key, known.filter((candidate) => candidate !== key));
      const setting = where === '' ? key : `${where}.${key}`;
      const suggested = suggestion === undefined ? '' : ` (did you mean "${where === '' ? suggestion : `${where}.${suggestion}`}"?)`;
      return { setting, message: `unknown setting${suggested}` };
    });
  }
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) return [{ setting: where, message: 'is required' }];
  return [{ setting: where, message: issue.message }];
}

/** "policy.dnsNames[2]" for ['policy', 'dnsNames', 2]. */
function settingPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : `${index > 0 ? '.' : ''}${String(segment)}`))
    .join('');
}

/** The parts of a zod schema's definition that lead to object keys. */
interface SchemaDefinition {
  readonly type: string;
  readonly shape?: Readonly<Record<string, ZodType>>;
  readonly innerType?: ZodType;
  readonly in?: ZodType;
  readonly options?: readonly ZodType[];
  readonly element?: ZodType;
  readonly valueType?: ZodType;
}

function definitionOf(schema: ZodType): SchemaDefinition {
  // zod's definitions are typed per schema kind; only these fields are read, each checked before use.
  const definition: unknown = schema._zod.def;
  return definition as SchemaDefinition;
}

/** The object schemas `schema` may be, through optional/default/pipe wrappers and every union member. */
function objectsOf(schema: ZodType): SchemaDefinition[] {
  const definition = definitionOf(schema);
  if (definition.type === 'object') return [definition];
  if (definition.options !== undefined) return definition.options.flatMap(objectsOf);
  const inner = definition.innerType ?? definition.in;
  return inner === undefined ? [] : objectsOf(inner);
}

/** Every key an object at `path` may have (the union of a discriminated union's members). */
function keysAt(schema: ZodType, path: readonly PropertyKey[]): string[] {
  let current: ZodType[] = [schema];
  for (const segment of path) {
    current = current.flatMap((candidate) => {
      const unwrapped = unwrap(candidate);
      return unwrapped.flatMap((definition): ZodType[] => {
        if (definition.type === 'object' && typeof segment === 'string') return definition.shape?.[segment] ? [definition.shape[segment]] : [];
        if (definition.type === 'record' && definition.valueType !== undefined) return [definition.valueType];
        if (definition.type === 'array' && definition.element !== undefined) return [definition.element];
        return [];
      });
    });
  }
  return [...new Set(current.flatMap(objectsOf).flatMap((definition) => Object.keys(definition.shape ?? {})))];
}

/** Like objectsOf, but keeps records and arrays too, to step into them. */
function unwrap(schema: ZodType): SchemaDefinition[] {
  const definition = definitionOf(schema);
  if (definition.type === 'object' || definition.type === 'record' || definition.type === 'array') return [definition];
  if (definition.options !== undefined) return definition.options.flatMap(unwrap);
  const inner = definition.innerType ?? definition.in;
  return inner === undefined ? [] : unwrap(inner);
}
