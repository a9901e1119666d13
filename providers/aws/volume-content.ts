/**
 * Fetched values → the volume's files and versions. Each object is written
 * whole under its file name (binary secrets byte for byte); each jmesPath
 * entry adds a file with one field of the JSON value. Messages name objects
 * and paths, never what a value holds.
 */
import { failedPrecondition, type ProviderFile } from '../../src/provider/contract.js';
import { jmesResultBytes, searchJson } from './jmes-path.js';
import type { AwsObject } from './objects.js';
import type { ObjectValue } from './secrets-manager.js';

export interface VolumeContent {
  readonly files: ProviderFile[];
  /** Each object's version (Secrets Manager VersionId, SSM version number), keyed by the object's file name. */
  readonly versions: Record<string, string>;
}

export function volumeContent(objects: readonly AwsObject[], values: readonly ObjectValue[]): VolumeContent {
  const files: ProviderFile[] = [];
  const versions: Record<string, string> = {};
  objects.forEach((object, index) => {
    const value = values[index];
    if (value === undefined) throw new Error(`no value was fetched for objects[${index}]`);
    files.push(file(object.file, object.mode, value.contents));
    versions[object.file] = value.version;
    if (object.extracts.length === 0) return;
    const document = parseJson(value.contents, object, index);
    for (const extract of object.extracts) {
      const found = searchJson(document, extract.steps);
      if (found === undefined) {
        throw failedPrecondition(
          `objects[${index}] (${describe(object)}): jmesPath "${extract.expression}" matches nothing in version ${value.version}`,
        );
      }
      files.push(file(extract.file, extract.mode, jmesResultBytes(found)));
    }
  });
  return { files, versions };
}

/** All the keys of a previous fetch's versions that this volume's objects produce. */
export function versionKeys(objects: readonly AwsObject[]): string[] {
  return objects.map((object) => object.file);
}

function file(path: string, mode: number | undefined, contents: Buffer): ProviderFile {
  return mode === undefined ? { path, contents } : { path, mode, contents };
}

function parseJson(contents: Buffer, object: AwsObject, index: number): unknown {
  try {
    return JSON.parse(contents.toString('utf8')) as unknown;
  } catch {
    // JSON.parse's own message quotes the input: it must not reach the pod's events.
    throw failedPrecondition(`objects[${index}] (${describe(object)}) has jmesPath entries, but its value is not JSON`);
  }
}

function describe(object: AwsObject): string {
  return `${object.type === 'ssmparameter' ? 'parameter' : 'secret'} "${object.name}"`;
}
