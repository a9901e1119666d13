/**
 * From a Vault response to a file's bytes: the whole secret as JSON, or one
 * key's value decoded as the object says. A missing key or an undecodable
 * value is FAILED_PRECONDITION naming the path and key (the secret must
 * change, or the pod spec), never quoting the value.
 */
import { failedPrecondition } from '../../src/provider/contract.js';
import { record, type SecretResponse } from './api.js';
import type { KvVersion } from './kv.js';
import type { VaultObject } from './objects.js';

const MAX_LISTED_KEYS = 20;

/** The key/value map of one response, and the KV v2 version it came from. */
export interface SecretValues {
  readonly values: Readonly<Record<string, unknown>>;
  readonly kv2Version: number | undefined;
}

export function secretValues(response: SecretResponse, kvVersion: KvVersion, secretPath: string): SecretValues {
  if (typeof response.data !== 'object' || response.data === null || Array.isArray(response.data)) {
    throw failedPrecondition(`Vault returned no data at secretPath "${secretPath}"`);
  }
  const data = record(response.data);
  if (kvVersion === 2 || (kvVersion === undefined && looksLikeKv2(data))) {
    const metadata = record(data.metadata);
    const version = typeof metadata.version === 'number' ? metadata.version : undefined;
    if (data.data === null || data.data === undefined) {
      throw failedPrecondition(
        `the secret at secretPath "${secretPath}"${version !== undefined ? ` (version ${version})` : ''} is deleted or destroyed`,
      );
    }
    return { values: record(data.data), kv2Version: version };
  }
  return { values: data, kv2Version: undefined };
}

/** A KV v2 read answers {data: {...}, metadata: {version, ...}}. */
function looksLikeKv2(data: Record<string, unknown>): boolean {
  const keys = Object.keys(data);
  return keys.length === 2 && 'data' in data && typeof record(data.metadata).version === 'number';
}

export function fileContents(object: VaultObject, secret: SecretValues): Buffer {
  const { secretKey } = object;
  if (secretKey === undefined) return Buffer.from(JSON.stringify(secret.values));
  const where = `secretPath "${object.secretPath}"`;
  if (!Object.hasOwn(secret.values, secretKey)) {
    const keys = Object.keys(secret.values);
    const listed = keys.slice(0, MAX_LISTED_KEYS).map((key) => `"${key}"`).join(', ');
    throw failedPrecondition(
      `object "${object.objectName}": the secret at ${where} has no key "${secretKey}"; ` +
        (keys.length === 0 ? 'it has no keys' : `its keys: ${listed}${keys.length > MAX_LISTED_KEYS ? ', …' : ''}`),
    );
  }
  const value = secret.values[secretKey];
  if (typeof value !== 'string') {
    if (object.encoding !== 'utf-8') {
      throw failedPrecondition(`object "${object.objectName}": key "${secretKey}" at ${where} is not a string, so encoding ${object.encoding} cannot apply`);
    }
    return Buffer.from(JSON.stringify(value));
  }
  const decoded = decode(value, object.encoding);
  if (decoded === undefined) {
    throw failedPrecondition(`object "${object.objectName}": the value of key "${secretKey}" at ${where} is not valid ${object.encoding}`);
  }
  return decoded;
}

/** Strict decoding: padded standard base64 (as Go's StdEncoding) and even-length hex; undefined when malformed. */
function decode(value: string, encoding: VaultObject['encoding']): Buffer | undefined {
  switch (encoding) {
    case 'utf-8':
      return Buffer.from(value, 'utf8');
    case 'base64':
      return value.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(value) ? Buffer.from(value, 'base64') : undefined;
    case 'hex':
      return /^(?:[0-9a-fA-F]{2})*$/.test(value) ? Buffer.from(value, 'hex') : undefined;
  }
}
