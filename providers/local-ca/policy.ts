/**
 * Which names a pod may put in its certificate. Patterns are parsed once at
 * start-up and expanded for each pod:
 *
 * - DNS patterns: a `*` matches exactly one DNS label of [a-z0-9-]; it never
 *   matches a dot nor a literal `*`, so a requested wildcard name such as
 *   `*.ns.svc` is never allowed by a pattern. Case-insensitive.
 * - URI patterns: exact comparison after expansion, where `*` matches a run
 *   of one or more characters other than `/`.
 * - Common names: a CN must be one of the request's own DNS names (compared
 *   case-insensitively; those names have passed the DNS patterns), so a CN
 *   never names a host the SANs could not. Beyond that, `commonNames`
 *   patterns: exact comparison after expansion, where `*` matches a run of
 *   one or more characters other than `.`.
 * - Other subject attributes (`subjectAttributes`): refused unless the type
 *   is listed, and then its value must match one of the type's patterns,
 *   where `*` matches a run of one or more characters. An emailAddress (or
 *   mail) attribute is an address like an email SAN and follows `emailSans`.
 *   UID (a user name to LDAP-style mappings) and DC (components some
 *   verifiers join into a domain) can name someone too, but have no SAN to be
 *   compared with: like O, OU and every other type, they are refused unless
 *   the admin lists them with the values they may take.
 * - Key usages (`allowedKeyUsages`): every requested basic and extended usage
 *   must be listed; `is-ca` (itself gated by `allowIsCA`) brings keyCertSign
 *   and cRLSign with it.
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
  DistinguishedNameError,
  EMAIL_TYPES,
  KEY_USAGE_NAMES,
  OID,
  POD_VARIABLES,
  TemplateError,
  allowedUsages,
  attributeTypeName,
  attributeTypeOid,
  expandTemplate,
  isIpAddress,
  keyUsageBits,
  parseTemplate,
  podTemplateValues,
  type DistinguishedName,
  type KeyUsages,
  type NameAttribute,
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
  /** Common names allowed beyond the request's own DNS names; undefined: none. */
  readonly commonNames: readonly Pattern[] | undefined;
  /** Value patterns by attribute type OID; a type that is not a key is refused. */
  readonly subjectAttributes: ReadonlyMap<string, readonly Pattern[]>;
  /** KeyUsage bits a pod may ask for. */
  readonly allowedUsageBits: number;
  /** Extended usage OIDs a pod may ask for. */
  readonly allowedExtendedUsages: ReadonlySet<string>;
  readonly minDurationMs: number;
  /** The admin's spelling of the minimum, for messages. */
  readonly minDurationText: string;
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

type PatternKind = Exclude<NameKind, 'ipAddresses'> | 'subjectValue';

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
    case 'subjectValue':
      return '.+';
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
    subjectAttributes: compileSubjectAttributes(instanceName, policy.subjectAttributes),
    ...compileKeyUsages(instanceName, policy.allowedKeyUsages),
    minDurationMs: parseDuration(policy.minDuration) ?? 0,
    minDurationText: policy.minDuration,
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

function compileSubjectAttributes(instanceName: string, settings: Readonly<Record<string, readonly string[]>>): Map<string, Pattern[]> {
  const compiled = new Map<string, Pattern[]>();
  for (const [typeText, patterns] of Object.entries(settings)) {
    const where = settingPath(['policy', 'subjectAttributes', typeText]);
    let oid: string;
    try {
      oid = attributeTypeOid(typeText);
    } catch (error) {
      if (!(error instanceof DistinguishedNameError)) throw error;
      throw invalidSettings(instanceName, `${where}: ${error.message}`);
    }
    if (oid === OID.commonName) throw invalidSettings(instanceName, `${where}: common names are allowed by policy.commonNames, not here`);
    if (EMAIL_TYPES.has(oid)) throw invalidSettings(instanceName, `${where}: email addresses are allowed by policy.emailSans, not here`);
    if (compiled.has(oid)) throw invalidSettings(instanceName, `${where}: names the same attribute type as another key`);
    compiled.set(
      oid,
      patterns.map((pattern, index) => compilePattern(instanceName, pattern, ['policy', 'subjectAttributes', typeText, index])),
    );
  }
  return compiled;
}

function compileKeyUsages(instanceName: string, entries: readonly string[]): Pick<CertificatePolicy, 'allowedUsageBits' | 'allowedExtendedUsages'> {
  const { bits, extended, unknownIndex } = allowedUsages(entries);
  if (unknownIndex !== undefined) {
    const detail =
      `${settingPath(['policy', 'allowedKeyUsages', unknownIndex])}: "${entries[unknownIndex] ?? ''}" is neither a usage name ` +
      `(${KEY_USAGE_NAMES.join(', ')}) nor a dotted OID of an extended usage`;
    throw invalidSettings(instanceName, detail);
  }
  return { allowedUsageBits: bits, allowedExtendedUsages: extended };
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
  if (commonName !== undefined) {
    const isOwnDnsName = names.dnsNames.includes(commonName.toLowerCase());
    const matchesPattern = policy.commonNames !== undefined && matchesAny(policy.commonNames, commonName, values, 'commonName');
    if (!isOwnDnsName && !matchesPattern) return { kind: 'commonName', value: commonName };
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

/**
 * The first subject attribute the policy does not allow (CN is checked with
 * the names). An email attribute must match emailSans like an email SAN.
 */
export function findRefusedSubjectAttribute(
  policy: CertificatePolicy,
  subject: DistinguishedName,
  pod: PodIdentity,
): (NameAttribute & { readonly typeName: string }) | undefined {
  const values: TemplateValues = { ...podTemplateValues(pod), TRUST_DOMAIN: policy.trustDomain };
  for (const attribute of subject.flat()) {
    if (attribute.type === OID.commonName) continue;
    const allowed = EMAIL_TYPES.has(attribute.type)
      ? matchesAny(policy.emailAddresses, attribute.value, values, 'emailAddresses')
      : matchesAny(policy.subjectAttributes.get(attribute.type) ?? [], attribute.value, values, 'subjectValue');
    if (!allowed) return { ...attribute, typeName: attributeTypeName(attribute.type) };
  }
  return undefined;
}

/** The first requested usage the policy does not allow: a basic usage name, or an extended usage OID. */
export function findRefusedUsage(
  policy: CertificatePolicy,
  usages: KeyUsages,
  isCA: boolean,
): { readonly kind: 'basic' | 'extended'; readonly value: string } | undefined {
  const extended = usages.extended.find((oid) => !policy.allowedExtendedUsages.has(oid));
  if (extended !== undefined) return { kind: 'extended', value: extended };
  // A CA certificate needs keyCertSign and cRLSign; is-ca itself is gated by allowIsCA.
  const caBits = isCA ? keyUsageBits(['cert sign', 'crl sign']) : 0;
  const basic = usages.basic.find((name) => (keyUsageBits([name]) & ~(policy.allowedUsageBits | caBits)) !== 0);
  return basic === undefined ? undefined : { kind: 'basic', value: basic };
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
