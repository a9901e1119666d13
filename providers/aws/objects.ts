/**
 * The pod's attributes for an aws volume, parsed and checked before anything
 * is mounted (no network). `objects` takes the YAML list a secrets-store
 * SecretProviderClass has under `parameters.objects`, with the same field
 * names, so it can be pasted unchanged.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { excerpt, excerptIfLong, invalidArgument, parserMessage, permissionDenied, type KeymountError } from '../../src/provider/contract.js';
import {
  findFileNameClash,
  parsePathTranslation,
  translatePath,
  unsafeFileNameReason,
  type PathTranslation,
} from './file-names.js';
import { JmesPathSyntaxError, compileJmesPath, type JmesStep } from './jmes-path.js';
import { isAwsRegion, matchesNamePattern, type AwsSettings } from './settings.js';

export const ATTRIBUTE = {
  objects: 'objects',
  roleArn: 'roleArn',
  region: 'region',
  pathTranslation: 'pathTranslation',
} as const;

export const ATTRIBUTE_KEYS: readonly string[] = Object.values(ATTRIBUTE);

export type ObjectType = 'secretsmanager' | 'ssmparameter';

/** Which object, in one region: a name or ARN, optionally pinned to a version or label. */
export interface ObjectSelector {
  readonly name: string;
  readonly version?: string;
  readonly versionLabel?: string;
}

/** A field of a JSON secret written to its own file. */
export interface JsonExtract {
  readonly expression: string;
  readonly steps: readonly JmesStep[];
  readonly file: string;
  readonly mode?: number;
}

export interface AwsObject extends ObjectSelector {
  readonly type: ObjectType;
  readonly file: string;
  readonly mode?: number;
  readonly extracts: readonly JsonExtract[];
  /** What to fetch in the failover region instead (failoverObject); absent: the same selector. */
  readonly failover?: ObjectSelector;
}

export interface AwsAttributes {
  readonly region: string;
  readonly failoverRegion?: string;
  /** The role the pod's token is exchanged for (IRSA instances). */
  readonly roleArn?: string;
  readonly objects: readonly AwsObject[];
}

/** Bounds the work one volume can ask for. */
const MAX_OBJECTS = 100;
/** YAML anchors are legal but rarely needed here; a small bound stops alias bombs. */
const MAX_YAML_ALIASES = 10;
const FILE_PERMISSION = /^0?[0-7]{3}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SSM_VERSION = /^[1-9]\d{0,9}$/;

const text = (required: boolean) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') }).refine((value) => !required || value !== '', 'must not be empty');
/** The AWS provider treats an empty optional field as absent; so do we. */
const optionalText = text(false).optional().transform((value) => (value === '' ? undefined : value));

const jmesPathEntrySchema = z.strictObject({
  path: text(true),
  objectAlias: text(true),
  filePermission: optionalText,
});

const failoverObjectSchema = z.strictObject({
  objectName: text(true),
  objectVersion: optionalText,
  objectVersionLabel: optionalText,
});

const objectEntrySchema = z.strictObject({
  objectName: text(true),
  objectType: optionalText,
  objectAlias: optionalText,
  objectVersion: optionalText,
  objectVersionLabel: optionalText,
  filePermission: optionalText,
  jmesPath: z.array(jmesPathEntrySchema, { error: 'must be a list' }).optional(),
  failoverObject: failoverObjectSchema.optional(),
});

const objectsSchema = z
  .array(objectEntrySchema, { error: 'must be a YAML list of objects (each starting with "- objectName: …")' })
  .min(1, 'must list at least one object')
  .max(MAX_OBJECTS, `may list at most ${MAX_OBJECTS} objects`);

type ObjectEntry = z.output<typeof objectEntrySchema>;

/** What parsing needs to know about the instance. */
export interface AttributeContext {
  readonly instanceName: string;
  readonly settings: AwsSettings;
}

/** Validates the attributes this provider understands; throws INVALID_ARGUMENT naming the attribute and field. */
export function parseAwsAttributes(attributes: Readonly<Record<string, string>>, context: AttributeContext): AwsAttributes {
  const region = parseRegion(attributes[ATTRIBUTE.region], context);
  const failoverRegion = context.settings.failoverRegion === region ? undefined : context.settings.failoverRegion;
  const roleArn = parseRoleArn(attributes[ATTRIBUTE.roleArn], context);
  const translation = parsePathTranslation(attributes[ATTRIBUTE.pathTranslation]);
  if (translation instanceof Error) throw invalidArgument(`attribute "${ATTRIBUTE.pathTranslation}": ${translation.message}`);
  const entries = parseObjectEntries(attributes[ATTRIBUTE.objects]);
  const objects = entries.map((entry, index) => toAwsObject(entry, `objects[${index}]`, { region, failoverRegion, translation }));
  checkFileNames(objects);
  checkSharedIdentityAllowList(objects, context);
  return Object.freeze({ region, failoverRegion, roleArn, objects: Object.freeze(objects) });
}

/**
 * On a node-auth instance every object (and its failover object) must match
 * the admin's allow-list for its type, before any AWS call is made.
 */
function checkSharedIdentityAllowList(objects: readonly AwsObject[], { instanceName, settings }: AttributeContext): void {
  if (settings.auth.type !== 'node') return;
  const allow = settings.auth.sharedIdentity?.allow;
  objects.forEach((object, index) => {
    const patterns = allow?.[object.type] ?? [];
    for (const name of [object.name, ...(object.failover === undefined ? [] : [object.failover.name])]) {
      if (matchesNamePattern(patterns, name)) continue;
      const listed = patterns.length === 0 ? 'which lists none' : `(${patterns.map((pattern) => excerpt(pattern)).join(', ')})`;
      throw permissionDenied(
        `attribute "${ATTRIBUTE.objects}": objects[${index}]: ${object.type === 'secretsmanager' ? 'secret' : 'parameter'} ${excerpt(name)} ` +
          `is not in auth.sharedIdentity.allow.${object.type} of provider instance "${instanceName}" ${listed}; ` +
          'the instance reads with the driver\'s own credentials, so only names the cluster admin listed may be read',
      );
    }
  });
}

function parseRegion(value: string | undefined, { instanceName, settings }: AttributeContext): string {
  if (value === undefined || value === '' || value === settings.region) return settings.region;
  if (!settings.allowRegionOverride) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.region}": provider instance "${instanceName}" reads from ${settings.region} and does not let pods ` +
        'choose another region (the admin can set allowRegionOverride); remove the attribute',
    );
  }
  if (!isAwsRegion(value)) {
    throw invalidArgument(`attribute "${ATTRIBUTE.region}": ${excerpt(value)} is not an AWS region such as "us-east-1"`);
  }
  return value;
}

function parseRoleArn(value: string | undefined, { instanceName, settings }: AttributeContext): string | undefined {
  const given = value === undefined || value === '' ? undefined : value;
  if (settings.auth.type === 'node') {
    if (given !== undefined) {
      throw invalidArgument(
        `attribute "${ATTRIBUTE.roleArn}": provider instance "${instanceName}" uses the node's credentials and assumes no role; remove the attribute`,
      );
    }
    return undefined;
  }
  if (given === undefined) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.roleArn}" is required: the ARN of the IAM role this pod's service account may assume ` +
        '(arn:aws:iam::<account>:role/<name>)',
    );
  }
  if (!ROLE_ARN.test(given)) {
    throw invalidArgument(`attribute "${ATTRIBUTE.roleArn}": ${excerpt(given)} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  }
  return given;
}

function parseObjectEntries(yamlText: string | undefined): ObjectEntry[] {
  if (yamlText === undefined || yamlText.trim() === '') {
    throw invalidArgument(`attribute "${ATTRIBUTE.objects}" is required: a YAML list of the secrets and parameters to mount`);
  }
  let document: unknown;
  try {
    // failsafe: every scalar stays a string, so "0600" and version "3" arrive exactly as written.
    document = parseYaml(yamlText, { schema: 'failsafe', maxAliasCount: MAX_YAML_ALIASES, uniqueKeys: true, prettyErrors: false });
  } catch (error) {
    throw invalidArgument(`attribute "${ATTRIBUTE.objects}" is not valid YAML: ${parserMessage((error as Error).message)}`);
  }
  const result = objectsSchema.safeParse(document);
  if (result.success) return result.data;
  throw invalidArgument(`attribute "${ATTRIBUTE.objects}": ${result.error.issues.map(describeIssue).join('; ')}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.reduce<string>(
    (path, segment) => (typeof segment === 'number' ? `${path}[${segment}]` : `${path}.${String(segment)}`),
    ATTRIBUTE.objects,
  );
  const problem =
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => excerpt(key)).join(', ')}`
      : issue.message;
  return issue.path.length === 0 ? problem : `${where}: ${problem}`;
}

interface ObjectContext {
  readonly region: string;
  readonly failoverRegion: string | undefined;
  readonly translation: PathTranslation;
}

function toAwsObject(entry: ObjectEntry, where: string, context: ObjectContext): AwsObject {
  const fail = (field: string, message: string): KeymountError =>
    invalidArgument(`attribute "${ATTRIBUTE.objects}": ${where}.${field}: ${message}`);
  const type = objectType(entry, fail);
  checkObjectName(entry.objectName, type, { region: context.region, role: 'region' }, (message) => fail('objectName', message));
  checkVersions(type, entry.objectVersion, entry.objectVersionLabel, (field, message) => fail(field, message));
  const failover = entry.failoverObject === undefined ? undefined : failoverSelector(entry, type, context, fail);
  const file = fileName(entry.objectAlias ?? entry.objectName, context.translation, (message) =>
    entry.objectAlias === undefined
      ? fail('objectName', `${message} as a file name; set objectAlias to a plain file name`)
      : fail('objectAlias', message),
  );
  const mode = fileMode(entry.filePermission, (message) => fail('filePermission', message));
  const extracts = (entry.jmesPath ?? []).map((extract, index) => {
    const at = (field: string, message: string): KeymountError => fail(`jmesPath[${index}].${field}`, message);
    return {
      expression: extract.path,
      steps: compileExpression(extract.path, (message) => at('path', message)),
      file: fileName(extract.objectAlias, context.translation, (message) => at('objectAlias', message)),
      mode: fileMode(extract.filePermission, (message) => at('filePermission', message)) ?? mode,
    };
  });
  return Object.freeze({
    type,
    name: entry.objectName,
    version: entry.objectVersion,
    versionLabel: entry.objectVersionLabel,
    file,
    mode,
    extracts: Object.freeze(extracts),
    failover,
  });
}

type FieldFailure = (field: string, message: string) => KeymountError;

/** objectType as written, else the service of an ARN name, else Secrets Manager. */
function objectType(entry: ObjectEntry, fail: FieldFailure): ObjectType {
  const arnService = parseArn(entry.objectName)?.service;
  const fromArn: ObjectType | undefined =
    arnService === 'secretsmanager' ? 'secretsmanager' : arnService === 'ssm' ? 'ssmparameter' : undefined;
  const written = entry.objectType;
  if (written === undefined) return fromArn ?? 'secretsmanager';
  if (written !== 'secretsmanager' && written !== 'ssmparameter') {
    throw fail('objectType', `${excerpt(written)} is not "secretsmanager" or "ssmparameter"`);
  }
  if (fromArn !== undefined && fromArn !== written) {
    throw fail('objectType', `${excerpt(written)} does not match the ARN in objectName, which is a ${excerpt(arnService ?? '')} ARN`);
  }
  return written;
}

interface Arn {
  readonly service: string;
  readonly region: string;
}

function parseArn(name: string): Arn | undefined {
  if (!name.startsWith('arn:')) return undefined;
  const [, partition, service, region, account, ...resource] = name.split(':');
  if (!partition || !service || region === undefined || account === undefined || resource.join(':') === '') return undefined;
  return { service, region };
}

interface ExpectedRegion {
  readonly region: string;
  readonly role: 'region' | 'failover region';
}

function checkObjectName(name: string, type: ObjectType, expected: ExpectedRegion, fail: (message: string) => KeymountError): void {
  if (name.startsWith('arn:')) {
    const arn = parseArn(name);
    if (arn === undefined) throw fail(`${excerpt(name)} is not a valid ARN (arn:partition:service:region:account:resource)`);
    if (arn.service !== 'secretsmanager' && arn.service !== 'ssm') {
      throw fail(`${excerpt(name)} is an ARN of service ${excerpt(arn.service)}; only secretsmanager and ssm ARNs are supported`);
    }
    if (arn.region !== expected.region) {
      throw fail(`the ARN's region ${excerptIfLong(arn.region) ?? ''} differs from the volume's ${expected.role} ${expected.region}`);
    }
    return;
  }
  if (type === 'ssmparameter' && name.includes(':')) {
    throw fail(`${excerpt(name)}: write the version or label in objectVersion or objectVersionLabel, not after ":" in the name`);
  }
}

function checkVersions(type: ObjectType, version: string | undefined, label: string | undefined, fail: FieldFailure): void {
  if (type !== 'ssmparameter') return;
  if (version !== undefined && label !== undefined) {
    throw fail('objectVersionLabel', 'an SSM parameter takes objectVersion or objectVersionLabel, not both');
  }
  if (version !== undefined && !SSM_VERSION.test(version)) {
    throw fail('objectVersion', `${excerpt(version)} is not an SSM parameter version number`);
  }
}

function failoverSelector(entry: ObjectEntry, type: ObjectType, context: ObjectContext, fail: FieldFailure): ObjectSelector {
  const failover = entry.failoverObject;
  if (failover === undefined) throw new Error('unreachable: failoverSelector without failoverObject');
  if (context.failoverRegion === undefined) {
    throw fail('failoverObject', 'the provider instance has no failoverRegion, so a failover object cannot be used');
  }
  if (entry.objectAlias === undefined) {
    throw fail('objectAlias', 'is required when failoverObject is set (the two names would give different file names)');
  }
  checkObjectName(failover.objectName, type, { region: context.failoverRegion, role: 'failover region' }, (message) =>
    fail('failoverObject.objectName', message),
  );
  checkVersions(type, failover.objectVersion, failover.objectVersionLabel, (field, message) => fail(`failoverObject.${field}`, message));
  if (failover.objectVersion !== entry.objectVersion) {
    throw fail('failoverObject.objectVersion', 'must be the same as the objectVersion of the primary region');
  }
  return Object.freeze({ name: failover.objectName, version: failover.objectVersion, versionLabel: failover.objectVersionLabel });
}

function fileName(name: string, translation: PathTranslation, fail: (message: string) => KeymountError): string {
  const path = translatePath(name, translation);
  const reason = unsafeFileNameReason(path);
  if (reason !== undefined) throw fail(path === name ? `${excerpt(name)} ${reason}` : `${excerpt(name)} becomes ${excerpt(path)}, which ${reason}`);
  return path;
}

function fileMode(permission: string | undefined, fail: (message: string) => KeymountError): number | undefined {
  if (permission === undefined) return undefined;
  if (!FILE_PERMISSION.test(permission)) throw fail(`${excerpt(permission)} is not an octal file mode such as "0640" (quote it in YAML)`);
  return Number.parseInt(permission, 8);
}

function compileExpression(expression: string, fail: (message: string) => KeymountError): readonly JmesStep[] {
  try {
    return compileJmesPath(expression);
  } catch (error) {
    if (error instanceof JmesPathSyntaxError) throw fail(`${excerpt(expression)} ${error.message}`);
    throw error;
  }
}

function checkFileNames(objects: readonly AwsObject[]): void {
  const files = objects.flatMap((object) => [object.file, ...object.extracts.map((extract) => extract.file)]);
  const clash = findFileNameClash(files);
  if (clash === undefined) return;
  throw invalidArgument(
    clash.path === clash.other
      ? `attribute "${ATTRIBUTE.objects}": two objects would both be written to ${excerpt(clash.path)}; give one of them another objectAlias`
      : `attribute "${ATTRIBUTE.objects}": ${excerpt(clash.path)} needs ${excerpt(clash.other)} as a directory, but it is a file; ` +
          'give one of them another objectAlias',
  );
}
