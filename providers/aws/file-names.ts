/**
 * File names of an aws volume: the objectName or objectAlias with "/"
 * translated as the secrets-store AWS provider does (pathTranslation), then
 * checked here so a bad alias is refused when the pod is admitted. The core
 * checks every path again before writing; this is the early, precise message.
 */
import { controlCharacterReason } from '../../src/provider/contract.js';

export const DEFAULT_PATH_TRANSLATION = '_';
const MAX_ELEMENT_BYTES = 255;
const MAX_DEPTH = 8;

/** The character that replaces "/" in names, or undefined when names keep their slashes (subdirectories). */
export type PathTranslation = string | undefined;

/** `pathTranslation`: absent → "_", "False" (any case) → off, otherwise exactly one character. */
export function parsePathTranslation(value: string | undefined): PathTranslation | Error {
  if (value === undefined || value === '') return DEFAULT_PATH_TRANSLATION;
  if (value.toLowerCase() === 'false') return undefined;
  if (value.length !== 1 || value === '/' || value === '\\' || value === '\0') {
    return new Error('must be "False" or a single character other than "/", "\\" and NUL');
  }
  return value;
}

/** The file name for a name or alias: slashes translated, or (translation off) leading slashes dropped. */
export function translatePath(name: string, translation: PathTranslation): string {
  return translation === undefined ? name.replace(/^\/+/, '') : name.replaceAll('/', translation);
}

/** Why `path` cannot be a file of the volume, or undefined when it can. */
export function unsafeFileNameReason(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL character';
  const control = controlCharacterReason(path);
  if (control !== undefined) return control;
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/')) return 'is an absolute path';
  const elements = path.split('/');
  if (elements.length > MAX_DEPTH) return `is deeper than ${MAX_DEPTH} levels`;
  for (const element of elements) {
    if (element === '') return 'has an empty path element (a doubled or trailing "/")';
    if (element === '.' || element === '..') return `contains a "${element}" element`;
    if (element.startsWith('..')) return 'has an element starting with "..", which keymount reserves for its own files';
    if (Buffer.byteLength(element) > MAX_ELEMENT_BYTES) return `has an element longer than ${MAX_ELEMENT_BYTES} bytes`;
  }
  return undefined;
}

/**
 * The first clash among the volume's file names: the same name twice, or a
 * name that another one needs as its directory ("a" and "a/b").
 */
export function findFileNameClash(paths: readonly string[]): { path: string; other: string } | undefined {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const previous = seen.get(path);
    if (previous !== undefined) return { path, other: previous };
    seen.set(path, path);
  }
  for (const path of paths) {
    const elements = path.split('/');
    for (let depth = 1; depth < elements.length; depth += 1) {
      const directory = elements.slice(0, depth).join('/');
      if (seen.has(directory)) return { path, other: directory };
    }
  }
  return undefined;
}
