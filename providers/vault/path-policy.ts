/**
 * Which Vault API paths a pod's `objects` may reach. The driver talks to Vault
 * with a token, and a path the pod writes is sent with that token: on every
 * instance the endpoints that act on the token itself, on auth methods, on
 * the server or on leases are out of reach, and on an instance that uses the
 * driver's own identity (token, approle) only the admin's allow-list is
 * reachable, read-only.
 *
 * OpenBao percent-decodes the request path, answers "//", "." and ".." with a
 * redirect to the cleaned path (which HTTP clients follow), and accepts a
 * child namespace as a path prefix ("team-a/auth/token/lookup-self" reaches
 * the token store of namespace team-a). The checks therefore run on every
 * spelling the server could resolve a path to, never on the text alone.
 */
import { excerpt, permissionDenied, type KeymountError } from '../../src/provider/contract.js';

/** First segments that reach the server, its auth methods or the identity store instead of a secrets engine. */
const RESERVED_ROOTS = new Set(['auth', 'sys', 'identity']);
/** Token endpoints that act on the caller's own token (auth/token/lookup-self, …), in any auth mount or namespace. */
const SELF_ENDPOINTS = new Set(['lookup-self', 'renew-self', 'revoke-self']);
/** Segment pairs that are token or lease endpoints wherever they appear (also below a namespace prefix). */
const RESERVED_PAIRS = new Set(['auth/token', 'sys/leases', 'sys/renew', 'sys/revoke', 'sys/revoke-prefix', 'sys/revoke-force']);
/** Decoding rounds before a path that still decodes further is refused as obfuscated. */
const MAX_DECODE_ROUNDS = 3;
/** An admin's allow pattern: path segments, "+" for exactly one segment, and an optional trailing "*" (Vault policy glob syntax). */
const ALLOW_PATTERN = /^(?:[^/*+\s]+|\+)(?:\/(?:[^/*+\s]+|\+))*(?:\/?\*)?$|^\*$/;

/** Every form OpenBao could route `path` to: as written and decoded up to a fixed point, dot segments resolved. */
export function resolvedForms(path: string): string[] | undefined {
  const forms = new Set<string>();
  let current = path;
  for (let round = 0; ; round++) {
    const cleaned = cleanSegments(current);
    if (cleaned === undefined) return undefined;
    forms.add(cleaned);
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      // Not percent-encoding ("100%"): keymount sends it encoded, so OpenBao sees these very characters.
      return [...forms];
    }
    if (decoded === current) return [...forms];
    if (round === MAX_DECODE_ROUNDS) return undefined;
    current = decoded;
  }
}

/** "a//b/./c/../d" → "a/b/d"; undefined when ".." climbs above the root or a control character appears. */
function cleanSegments(path: string): string | undefined {
  if (/\p{Cc}|\\/u.test(path)) return undefined;
  const kept: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (kept.pop() === undefined) return undefined;
      continue;
    }
    kept.push(segment);
  }
  return kept.join('/');
}

/** Why no pod may send `path`, or undefined. `sharedIdentity` also refuses reserved segments below a namespace prefix. */
export function reservedPathReason(path: string, sharedIdentity: boolean): string | undefined {
  const forms = resolvedForms(path);
  if (forms === undefined) return 'it uses nested percent-encoding, control characters or a ".." above the root, which keymount does not pass to Vault';
  for (const form of forms) {
    const segments = form.toLowerCase().split('/');
    const [first = ''] = segments;
    if (RESERVED_ROOTS.has(first)) return `"${first}/" paths reach Vault's ${first === 'sys' ? 'server and lease' : first === 'auth' ? 'auth and token' : 'identity'} endpoints`;
    if (segments.some((segment) => SELF_ENDPOINTS.has(segment))) return 'it names a token endpoint (lookup-self, renew-self, revoke-self) that acts on the token keymount sends';
    for (let index = 0; index + 1 < segments.length; index++) {
      if (RESERVED_PAIRS.has(`${segments[index]}/${segments[index + 1]}`)) return 'it names a token or lease endpoint (below a namespace prefix)';
    }
    if (sharedIdentity && segments.some((segment) => RESERVED_ROOTS.has(segment))) {
      return 'on an instance that uses the driver\'s own identity no path segment may be "auth", "sys" or "identity" (a namespace prefix would reach those endpoints)';
    }
  }
  return undefined;
}

/** The admin's allow-list, compiled once at start-up. */
export class AllowedPaths {
  private readonly patterns: readonly { readonly segments: readonly string[]; readonly prefix: boolean }[];

  constructor(readonly written: readonly string[]) {
    this.patterns = written.map((pattern) => {
      const prefix = pattern.endsWith('*');
      const body = prefix ? pattern.slice(0, -1) : pattern;
      return { segments: body === '' ? [] : body.split('/'), prefix };
    });
  }

  /** True when `path` (already cleaned: no empty or dot segments) matches one pattern. */
  allows(path: string): boolean {
    const segments = path.split('/');
    return this.patterns.some((pattern) => matches(pattern.segments, pattern.prefix, segments));
  }

  /**
   * True when `path` matches as written or in its KV version 2 form ("secret/app"
   * is read as "secret/data/app" when "secret/" is a KV v2 mount). Only the
   * mount lookup tells which form is read, so the path read is checked again
   * with allows() once it is known.
   */
  mayAllow(path: string): boolean {
    if (this.allows(path)) return true;
    const segments = path.split('/');
    for (let mountDepth = 1; mountDepth < segments.length; mountDepth++) {
      if (this.allows([...segments.slice(0, mountDepth), 'data', ...segments.slice(mountDepth)].join('/'))) return true;
    }
    return false;
  }
}

/**
 * Vault's policy glob: "+" is one whole segment; a trailing "*" matches any
 * rest, including "/" ("secret/data/shared/*"), or the rest of the last
 * segment ("secret/data/app-*").
 */
function matches(pattern: readonly string[], prefix: boolean, segments: readonly string[]): boolean {
  if (!prefix) return pattern.length === segments.length && pattern.every((part, index) => part === '+' || part === segments[index]);
  if (pattern.length === 0) return true;
  // "a/b/*" leaves "" as the last pattern element: any rest after "a/b/"; "a/app-*": the next segment starts with "app-".
  const last = pattern.length - 1;
  for (let index = 0; index < last; index++) {
    const segment = segments[index];
    if (segment === undefined || (pattern[index] !== '+' && pattern[index] !== segment)) return false;
  }
  const tail = segments.slice(last).join('/');
  const lastPattern = pattern[last] ?? '';
  return segments.length > last && (lastPattern === '+' ? tail !== '' : tail.startsWith(lastPattern));
}

/** Why an admin's allow pattern cannot be used, or undefined. */
export function invalidAllowPatternReason(pattern: string): string | undefined {
  if (!ALLOW_PATTERN.test(pattern)) {
    return 'must be a Vault path pattern such as "secret/data/shared/*": segments, "+" for one whole segment, "*" only at the end, no leading "/"';
  }
  if (pattern === '*') return undefined;
  const literal = pattern.replace(/\*$/, '').replace(/\/$/, '');
  const reason = literal === '' ? undefined : reservedPathReason(literal.replaceAll('+', 'x'), true);
  return reason === undefined ? undefined : `can never match: ${reason}`;
}

/** What a vault instance lets its pods reach, for the checks at attribute parsing. */
export interface PathPolicy {
  readonly instanceName: string;
  /** Present on instances that use the driver's own identity. */
  readonly allowed: AllowedPaths | undefined;
}

/** Throws PERMISSION_DENIED, naming the instance and the setting, when the pod may not send this request. */
export function checkObjectPath(policy: PathPolicy, where: string, path: string, method: string): void {
  const shared = policy.allowed !== undefined;
  const reason = reservedPathReason(path, shared);
  if (reason !== undefined) {
    throw permissionDenied(`${where}: secretPath ${excerpt(path)} is never reachable from a pod of provider instance "${policy.instanceName}": ${reason}`);
  }
  if (policy.allowed === undefined) return;
  if (method !== 'GET') {
    throw permissionDenied(
      `${where}: provider instance "${policy.instanceName}" reads with the driver's own Vault identity, so its pods may only read: ` +
        'method POST and secretArgs are refused; remove them',
    );
  }
  // Every spelling must be allowed: "shared/%2e%2e/admin" is not under "shared/".
  const forms = resolvedForms(path) ?? [];
  if (forms.length === 0 || !forms.every((form) => policy.allowed?.mayAllow(form) === true)) {
    throw notAllowed(policy.instanceName, policy.allowed, where, path);
  }
}

/** The error for a path outside the allow-list, naming the instance and the setting. */
export function notAllowed(instanceName: string, allowed: AllowedPaths, where: string, path: string): KeymountError {
  return permissionDenied(
    `${where}: secretPath ${excerpt(path)} is not in auth.sharedIdentity.allow of provider instance "${instanceName}" ` +
      `(${allowed.written.map((pattern) => excerpt(pattern)).join(', ')}); ask the cluster admin, or use a path the list names`,
  );
}
