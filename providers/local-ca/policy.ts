/**
 * Which names a pod may put in its certificate. Patterns are parsed once at
 * start-up and expanded for each pod:
 *
 * - DNS patterns: a `*` matches exactly one DNS label of [a-z0-9-]; it never
 *   matches a dot nor a literal `*`, so a requested wildcard name such as
 *   `*.ns.svc` is never allowed by a pattern. Case-insensitive.
 * - URI patterns: exact comparison after expansion, where `*` matches a run
 *   of one or more characters other than `/`.
 * - Common-name patterns: exact comparison after expansion, where `*` matches
 *   a run of one or more characters other than `.`. No `commonNames` setting
 *   means any common name is allowed.
 * - IP SANs: only exact addresses or CIDR ranges the admin lists (no
 *   templates: pod IPs are not known when the volume is mounted); an empty
 *   list, the default, allows no IP SAN at all.
 * - Email SANs: case-insensitive; before the `@` a `*` matches one or more
 *   characters other than `@`, after it exactly one DNS label (as in DNS
 *   patterns). An empty list, the default, allows no email SAN at all.
 * - The common name is checked whether it comes from `common-name` or from
 *   the CN of `literal-subject`.
 *
 * Values substituted for variables are matched literally, so a `*` or `.`
 * inside a pod's name can never act as a wildcard.
 */
import { BlockList, isIP } from 'node:net';
import { parseDuration, type PodIdentity } from '../../src/provider/contract.js';
import {
  POD_VARIABLES,
  TemplateError,
  expandTemplate,
  isIpAddress,
  parseTemplate,
  podTemplateValues,
  type NameKind,
  type RequestedNames,
  type TemplatePart,
  type TemplateValues,
} from '../x509-common/index.js';
import type { LocalCaSettings } from './settings.js';
import { invalidSettings, settingPath } from './settings.js';

/** Policy patterns may also refer to the instance's trust domain. */
const POLICY_VARIABLES = [...POD_VARIABLES, 'TRUST_DOMAIN'] as const;

type Pattern = readonly TemplatePart[];

export interface CertificatePolicy {
  readonly trustDomain: string;
  /** undefined: any common name is allowed. */
  readonly commonNames: readonly Pattern[] | undefined;
  readonly dnsNames: readonly Pattern[];
  readonly uris: readonly Pattern[];
  readonly emailAddresses: readonly Pattern[];
  readonly ipRanges: BlockList;
  readonly maxDurationMs: number;
  /** The admin's spelling of the maximum, for messages. */
  readonly maxDurationText: string;
  readonly allowIsCA: boolean;
}

export interface RefusedName {
  readonly kind: NameKind;
  readonly value: string;
}

type PatternKind = Exclude<NameKind, 'ipAddresses'>;

const DNS_LABEL_SOURCE = '[a-z0-9-]+';

/** What `*` matches; for email patterns, `afterAt` tells the domain from the local part. */
function wildcardSource(kind: PatternKind, afterAt: boolean): string {
  switch (kind) {
    case 'commonName':
      return '[^.]+';
    case 'dnsNames':
      return DNS_LABEL_SOURCE;
    case 'uris':
      return '[^/]+';
    case 'emailAddresses':
      return afterAt ? DNS_LABEL_SOURCE : '[^@]+';
  }
}

/** Parses the policy settings; throws an Error naming the bad setting. */
export function compilePolicy(instanceName: string, settings: LocalCaSettings): CertificatePolicy {
  const { policy } = settings;
  const compile = (list: readonly string[], name: string): Pattern[] =>
    list.map((pattern, index) => compilePattern(instanceName, pattern, ['policy', name, index]));
  return {
    trustDomain: settings.trustDomain,
    commonNames: policy.commonNames === undefined ? undefined : compile(policy.commonNames, 'commonNames'),
    dnsNames: compile(policy.dnsNames, 'dnsNames'),
    uris: compile(policy.uriSans, 'uriSans'),
    emailAddresses: compile(policy.emailSans, 'emailSans'),
    ipRanges: compileIpRanges(instanceName, policy.ipSans),
    // The settings schema has already checked the duration.
    maxDurationMs: parseDuration(policy.maxDuration) ?? 0,
    maxDurationText: policy.maxDuration,
    allowIsCA: policy.allowIsCA,
  };
}

function compilePattern(instanceName: string, pattern: string, path: readonly PropertyKey[]): Pattern {
  try {
    return parseTemplate(pattern, POLICY_VARIABLES);
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    throw invalidSettings(instanceName, `${settingPath(path)}: ${error.message}`);
  }
}

function compileIpRanges(instanceName: string, entries: readonly string[]): BlockList {
  const ranges = new BlockList();
  entries.forEach((entry, index) => {
    if (!addIpRange(ranges, entry)) {
      const detail = `${settingPath(['policy', 'ipSans', index])}: "${entry}" is neither an IP address nor a CIDR range`;
      throw invalidSettings(instanceName, detail);
    }
  });
  return ranges;
}

/** Adds "10.0.0.1" or "10.0.0.0/8" to the list; false when the entry is neither. */
function addIpRange(ranges: BlockList, entry: string): boolean {
  const [address = '', prefix, ...extra] = entry.split('/');
  if (!isIpAddress(address) || extra.length > 0) return false;
  const family = ipFamily(address);
  if (prefix === undefined) {
    ranges.addAddress(address, family);
    return true;
  }
  const maxPrefixLength = family === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > maxPrefixLength) return false;
  const prefixLength = Number(prefix);
  ranges.addSubnet(address, prefixLength, family);
  return true;
}

function ipFamily(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/** The first requested name the policy does not allow, if any. */
export function findRefusedName(policy: CertificatePolicy, names: RequestedNames, pod: PodIdentity): RefusedName | undefined {
  const values: TemplateValues = { ...podTemplateValues(pod), TRUST_DOMAIN: policy.trustDomain };
  const { commonName } = names;
  if (commonName !== undefined && policy.commonNames !== undefined) {
    if (!matchesAny(policy.commonNames, commonName, values, 'commonName')) return { kind: 'commonName', value: commonName };
  }
  const dnsName = names.dnsNames.find((name) => !matchesAny(policy.dnsNames, name, values, 'dnsNames'));
  if (dnsName !== undefined) return { kind: 'dnsNames', value: dnsName };
  const uri = names.uris.find((name) => !matchesAny(policy.uris, name, values, 'uris'));
  if (uri !== undefined) return { kind: 'uris', value: uri };
  const email = names.emailAddresses.find((name) => !matchesAny(policy.emailAddresses, name, values, 'emailAddresses'));
  if (email !== undefined) return { kind: 'emailAddresses', value: email };
  const address = names.ipAddresses.find((ip) => !policy.ipRanges.check(ip, ipFamily(ip)));
  if (address !== undefined) return { kind: 'ipAddresses', value: address };
  return undefined;
}

function matchesAny(patterns: readonly Pattern[], name: string, values: TemplateValues, kind: PatternKind): boolean {
  return patterns.some((pattern) => patternRegExp(pattern, values, kind).test(name));
}

function patternRegExp(pattern: Pattern, values: TemplateValues, kind: PatternKind): RegExp {
  let afterAt = false;
  let source = '';
  for (const part of pattern) {
    const literal = part.kind === 'variable';
    const text = literal ? expandTemplate([part], values) : part.text;
    for (const character of text) {
      source += character === '*' && !literal ? wildcardSource(kind, afterAt) : escapeRegExp(character);
      if (character === '@') afterAt = true;
    }
  }
  const caseInsensitive = kind === 'dnsNames' || kind === 'emailAddresses';
  return new RegExp(`^${source}$`, caseInsensitive ? 'i' : '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
