/**
 * The `objects` attribute: the YAML list of vault-csi-provider, so users can
 * paste theirs unchanged. Parsing is strict (unknown fields, duplicate or
 * unsafe names are refused) and pure: nothing here talks to Vault.
 */
import { isMap, isScalar, isSeq, parseDocument, type Node, type YAMLMap } from 'yaml';
import { controlCharacterReason, excerpt, invalidArgument, parserMessage } from '../../src/provider/contract.js';

export const OBJECTS_ATTRIBUTE = 'objects';
export const MAX_OBJECTS_LENGTH = 64 * 1024;
export const MAX_OBJECTS = 100;
const MAX_ALIASES = 10;
const MAX_PATH_DEPTH = 8;
const MAX_ELEMENT_BYTES = 255;

export const ENCODINGS = ['utf-8', 'base64', 'hex'] as const;
export type Encoding = (typeof ENCODINGS)[number];
export type SecretMethod = 'GET' | 'POST';

export interface VaultObject {
  /** The file's path in the volume (relative, checked). */
  readonly objectName: string;
  /** The API path as written, without a leading "/" or "v1/" and without its query string. */
  readonly secretPath: string;
  /** The query string without "?", e.g. "version=2" (GET only). */
  readonly query: string | undefined;
  /** The key to write; absent: the whole secret as JSON. */
  readonly secretKey: string | undefined;
  readonly method: SecretMethod;
  /** The JSON body of a POST. */
  readonly secretArgs: Readonly<Record<string, unknown>> | undefined;
  /** How the value is stored in Vault; the file gets the decoded bytes. */
  readonly encoding: Encoding;
  /** Permission bits of the file; the volume's fileMode applies when absent. */
  readonly filePermission: number | undefined;
}

const FIELDS = ['objectName', 'secretPath', 'secretKey', 'method', 'secretArgs', 'encoding', 'filePermission'] as const;
type Field = (typeof FIELDS)[number];

export function parseObjects(text: string | undefined): readonly VaultObject[] {
  if (text === undefined || text.trim() === '') {
    throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}" is required: a YAML list of {objectName, secretPath, secretKey, …}`);
  }
  if (Buffer.byteLength(text) > MAX_OBJECTS_LENGTH) {
    throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}" is longer than ${MAX_OBJECTS_LENGTH} bytes`);
  }
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const problem = document.errors[0];
  if (problem !== undefined) {
    throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}" is not valid YAML: ${parserMessage(problem.message)}`);
  }
  const list = document.contents;
  if (!isSeq(list)) {
    throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}" must be a YAML list (each item starting with "- objectName: …")`);
  }
  if (list.items.length === 0) throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}" lists no object`);
  if (list.items.length > MAX_OBJECTS) throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}" lists more than ${MAX_OBJECTS} objects`);
  // The plain values resolve anchors and aliases (bounded by maxAliasCount); secretArgs are taken from them.
  let plain: unknown[];
  try {
    plain = document.toJS({ maxAliasCount: MAX_ALIASES }) as unknown[];
  } catch (error) {
    throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}": ${parserMessage((error as Error).message)}`);
  }
  const objects = list.items.map((item, index) => parseObject(item, index, plain[index]));
  checkNamesDistinct(objects);
  return Object.freeze(objects);
}

function parseObject(item: unknown, index: number, plain: unknown): VaultObject {
  const where = `attribute "${OBJECTS_ATTRIBUTE}", item ${index + 1}`;
  if (!isMap(item)) throw invalidArgument(`${where}: must be a map such as {objectName: db-password, secretPath: secret/data/db, secretKey: password}`);
  const fields = fieldsOf(item, where);
  const objectName = requiredString(fields, 'objectName', where);
  const at = `${where} (objectName ${excerpt(objectName)})`;
  const unsafe = unsafeNameReason(objectName);
  if (unsafe !== undefined) throw invalidArgument(`${at}: objectName must be a relative file name: ${unsafe}`);
  const { path: secretPath, query } = parseSecretPath(requiredString(fields, 'secretPath', at), at);
  const method = parseMethod(optionalString(fields, 'method', at), at);
  const secretKey = optionalString(fields, 'secretKey', at);
  const secretArgs = parseSecretArgs(fields.has('secretArgs') ? (plain as { secretArgs?: unknown }).secretArgs : undefined, at);
  const encoding = parseEncoding(optionalString(fields, 'encoding', at), at);
  if (secretArgs !== undefined && method !== 'POST') throw invalidArgument(`${at}: secretArgs are sent as the body of a POST; add method: POST`);
  if (query !== undefined && method !== 'GET') throw invalidArgument(`${at}: a query string in secretPath only goes with method GET; put POST arguments in secretArgs`);
  if (encoding !== 'utf-8' && secretKey === undefined) {
    throw invalidArgument(`${at}: encoding ${encoding} decodes one value and needs a secretKey`);
  }
  return Object.freeze({
    objectName,
    secretPath,
    query,
    secretKey,
    method,
    secretArgs,
    encoding,
    filePermission: parseFilePermission(fields.get('filePermission'), at),
  });
}

/** The item's fields by name; unknown names are refused with a suggestion. */
function fieldsOf(map: YAMLMap, where: string): Map<Field, Node | null> {
  const fields = new Map<Field, Node | null>();
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (!(FIELDS as readonly string[]).includes(key)) {
      const suggestion = FIELDS.find((field) => field.toLowerCase() === key.toLowerCase().replace(/[-_]/g, ''));
      throw invalidArgument(
        `${where}: unknown field ${excerpt(key)}${suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : ''}; fields: ${FIELDS.join(', ')}`,
      );
    }
    fields.set(key as Field, (pair.value ?? null) as Node | null);
  }
  return fields;
}

/** A scalar as the text the user wrote (YAML would turn `secretKey: 0123` into a number). */
function optionalString(fields: Map<Field, Node | null>, field: Field, where: string): string | undefined {
  const node = fields.get(field);
  if (node === undefined || node === null) return undefined;
  if (!isScalar(node)) throw invalidArgument(`${where}: ${field} must be a single value, not a list or map`);
  if (node.value === null) return undefined;
  const text = node.source ?? scalarText(node.value);
  if (text === '') return undefined;
  if (/\p{Cc}/u.test(text)) throw invalidArgument(`${where}: ${field} must not contain control characters`);
  return text;
}

function requiredString(fields: Map<Field, Node | null>, field: Field, where: string): string {
  const text = optionalString(fields, field, where);
  if (text === undefined) throw invalidArgument(`${where}: ${field} is required`);
  return text;
}

/** "/v1/secret/data/app?version=2" → secret/data/app + version=2. */
function parseSecretPath(text: string, where: string): { path: string; query: string | undefined } {
  const queryAt = text.indexOf('?');
  const rawPath = queryAt === -1 ? text : text.slice(0, queryAt);
  const query = queryAt === -1 ? undefined : text.slice(queryAt + 1);
  const path = rawPath.replace(/^\/+/, '').replace(/^v1\//, '');
  const segments = path.split('/');
  if (path === '' || /\s|#/.test(path) || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw invalidArgument(`${where}: secretPath ${excerpt(text)} must be a Vault API path such as "secret/data/app" (no empty, "." or ".." segments, no spaces)`);
  }
  if (query !== undefined && (query === '' || /\s|#/.test(query))) {
    throw invalidArgument(`${where}: secretPath ${excerpt(text)} has an empty or malformed query string`);
  }
  return { path, query };
}

function parseMethod(text: string | undefined, where: string): SecretMethod {
  const method = (text ?? 'GET').toUpperCase();
  if (method === 'GET' || method === 'POST') return method;
  throw invalidArgument(`${where}: method ${excerpt(text ?? '')} is not supported; use GET (the default) or POST`);
}

function parseEncoding(text: string | undefined, where: string): Encoding {
  const encoding = (text ?? 'utf-8').toLowerCase();
  const known = ENCODINGS.find((name) => name === encoding);
  if (known !== undefined) return known;
  throw invalidArgument(`${where}: encoding ${excerpt(text ?? '')} is not one of ${ENCODINGS.join(', ')}`);
}

function parseSecretArgs(value: unknown, where: string): Readonly<Record<string, unknown>> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Map) {
    throw invalidArgument(`${where}: secretArgs must be a map of arguments, such as {common_name: web.example.com, ttl: 1h}`);
  }
  return Object.freeze({ ...(value as Record<string, unknown>) });
}

/**
 * Octal permission bits as vault-csi-provider reads them: `0600` and `0o600`
 * are octal (YAML 1.1 style, which Go's YAML decoder keeps), a number without
 * a leading zero is decimal (`384` is 0600).
 */
function parseFilePermission(node: Node | null | undefined, where: string): number | undefined {
  if (node === undefined || node === null) return undefined;
  if (!isScalar(node)) throw invalidArgument(`${where}: filePermission must be octal permission bits such as 0440`);
  if (node.value === null) return undefined;
  const text = (node.source ?? scalarText(node.value)).trim();
  let mode: number;
  if (/^0(?:o?[0-7]+)?$/i.test(text)) mode = parseInt(text.replace(/^0o?/i, '') || '0', 8);
  else if (/^[1-9][0-9]*$/.test(text)) mode = Number(text);
  else throw invalidArgument(`${where}: filePermission ${excerpt(text)} must be octal permission bits such as 0440`);
  if (mode > 0o777) {
    throw invalidArgument(
      `${where}: filePermission ${text} is ${mode.toString(8).padStart(4, '0')} in octal, beyond 0777; write octal with a leading zero, such as 0440`,
    );
  }
  // 0 is Go's zero value: vault-csi-provider treats it as "not set".
  return mode === 0 ? undefined : mode;
}

/** Why a name cannot be a file of the volume; the same rules the core applies, checked early for a better message. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.startsWith('/')) return 'it is absolute';
  if (name.includes('\\')) return 'it contains a backslash';
  const control = controlCharacterReason(name);
  if (control !== undefined) return `it ${control}`;
  const elements = name.split('/');
  if (elements.length > MAX_PATH_DEPTH) return `it is deeper than ${MAX_PATH_DEPTH} levels`;
  for (const element of elements) {
    if (element === '') return 'it has an empty path element (a doubled or trailing "/")';
    if (element === '.' || element === '..') return `it contains a "${element}" element`;
    if (element.startsWith('..')) return 'an element starts with ".." (reserved for the volume\'s own files)';
    if (Buffer.byteLength(element) > MAX_ELEMENT_BYTES) return `an element is longer than ${MAX_ELEMENT_BYTES} bytes`;
  }
  return undefined;
}

/** Two objects may not write the same file, nor one a file where the other needs a directory. */
function checkNamesDistinct(objects: readonly VaultObject[]): void {
  const names = new Set<string>();
  for (const { objectName } of objects) {
    if (names.has(objectName)) throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}": objectName ${excerpt(objectName)} appears twice`);
    names.add(objectName);
  }
  for (const name of names) {
    const elements = name.split('/');
    for (let depth = 1; depth < elements.length; depth++) {
      const parent = elements.slice(0, depth).join('/');
      if (names.has(parent)) {
        throw invalidArgument(`attribute "${OBJECTS_ATTRIBUTE}": objectName ${excerpt(parent)} is a file, so ${excerpt(name)} cannot be inside it`);
      }
    }
  }
}

/** Scalars parsed from text always carry their source; this covers scalars built otherwise. */
function scalarText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}
