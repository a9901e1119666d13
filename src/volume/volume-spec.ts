/**
 * Turns a publish request's volume attributes into what the volume manager
 * needs: the provider instance, its parsed attributes, the file mode and the
 * group. Pure: it runs before any side effect, so a bad pod spec never leaves
 * a mount or directory behind.
 */
import { createHash } from 'node:crypto';
import { parseDuration } from '../config/units.js';
import { invalidArgument, permissionDenied } from '../errors.js';
import { closestMatch } from '../suggest.js';
import { excerpt } from '../untrusted-text.js';
import type { Provider } from '../provider/contract.js';
import type { ProviderRegistry } from '../provider/registry.js';
import type { PublishRequest } from './requests.js';

/** Attributes every provider accepts. */
export const COMMON_ATTRIBUTES = ['provider', 'fileMode', 'fsGroup', 'refreshInterval'] as const;
/** Keys the kubelet adds (pod info, tokens, ephemeral marker). */
export const KUBELET_ATTRIBUTE_PREFIX = 'csi.storage.k8s.io/';
export const DEFAULT_FILE_MODE = 0o440;

export interface VolumeSpec {
  readonly providerName: string;
  readonly provider: Provider;
  readonly providerAttributes: unknown;
  readonly fileMode: number;
  readonly gid: number | undefined;
  /** How long fetched content is served before a republish fetches it again. */
  readonly refreshIntervalMs: number;
  /** Identifies the request's arguments; equal fingerprints mean an idempotent repeat. */
  readonly fingerprint: string;
}

export function resolveVolumeSpec(request: PublishRequest, registry: ProviderRegistry): VolumeSpec {
  const attributes = request.attributes;
  const providerName = attributes.provider;
  if (providerName === undefined || providerName === '') {
    throw invalidArgument(
      `volumeAttributes.provider is required: set it to one of the configured provider instances (${registry.names.join(', ')})`,
    );
  }
  const instance = registry.get(providerName);
  if (instance === undefined) {
    throw invalidArgument(
      `volumeAttributes.provider ${excerpt(providerName)} is not a configured provider instance; configured: ${registry.names.join(', ')}`,
    );
  }
  // Before the provider looks at anything the pod wrote: a pod outside the instance's namespaces gets nothing from it.
  if (!instance.allowsNamespace(request.pod.namespace)) {
    throw permissionDenied(
      `provider instance "${providerName}" is not available to pods in namespace "${request.pod.namespace}": ` +
        "the cluster admin restricts it to other namespaces (the instance's namespaces setting); use an instance meant for this namespace",
    );
  }
  const provider = instance.provider;
  rejectUnknownKeys(attributes, provider);
  const fileMode = parseFileMode(attributes.fileMode);
  const gid = request.mountGroup ?? parseGid(attributes.fsGroup);
  const providerAttributes = provider.parseAttributes(attributes, request.pod);
  return {
    providerName,
    provider,
    providerAttributes,
    fileMode,
    gid,
    refreshIntervalMs: parseRefreshInterval(attributes.refreshInterval, instance.minRefreshIntervalMs),
    fingerprint: fingerprintOf(request),
  };
}

function rejectUnknownKeys(attributes: Readonly<Record<string, string>>, provider: Provider): void {
  const known = new Set<string>([...COMMON_ATTRIBUTES, ...provider.attributeKeys]);
  for (const key of Object.keys(attributes)) {
    if (known.has(key) || key.startsWith(KUBELET_ATTRIBUTE_PREFIX)) continue;
    const suggestion = closestMatch(key, [...known]);
    throw invalidArgument(
      `volumeAttributes has unknown key ${excerpt(key)} for provider type ${provider.type}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; known keys: ${[...known].sort().join(', ')}`,
    );
  }
}

function parseFileMode(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_FILE_MODE;
  if (!/^0?[0-7]{3}$/.test(text)) {
    throw invalidArgument(`volumeAttributes.fileMode ${excerpt(text)} must be octal permission bits such as 0440`);
  }
  return parseInt(text, 8);
}

/**
 * The attribute's interval, raised to the instance's minimum: an admin who
 * tightens the minimum slows existing pods down instead of breaking them.
 */
function parseRefreshInterval(text: string | undefined, minimumMs: number): number {
  if (text === undefined || text === '') return minimumMs;
  const ms = parseDuration(text);
  if (ms === undefined) throw invalidArgument(`volumeAttributes.refreshInterval ${excerpt(text)} must be a duration such as 5m or 1h`);
  return Math.max(ms, minimumMs);
}

const MAX_GID = 4_294_967_294;

export function parseGid(text: string | undefined, field = 'volumeAttributes.fsGroup'): number | undefined {
  if (text === undefined || text === '') return undefined;
  const gid = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(gid >= 0 && gid <= MAX_GID)) throw invalidArgument(`${field} ${excerpt(text)} must be a numeric group ID`);
  return gid;
}

/** Tokens and secrets change on every kubelet call, so they are not part of what makes two requests the same. */
function fingerprintOf(request: PublishRequest): string {
  const sortedAttributes = Object.entries(request.attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify({ attributes: sortedAttributes, readOnly: request.readOnly, mountGroup: request.mountGroup ?? null }))
    .digest('hex');
}
