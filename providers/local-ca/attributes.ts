/**
 * The pod's volume attributes for a local-ca volume: parsed, validated and
 * checked against the instance's policy before anything is mounted. Names
 * follow cert-manager's csi-driver, without its `csi.cert-manager.io/` prefix.
 */
import { invalidArgument, parseDuration, permissionDenied, type PodIdentity } from '../../src/provider/contract.js';
import { ONE_MINUTE_MS } from './duration.js';
import { DEFAULT_KEY_USAGES, KEY_USAGE_NAMES, isKeyUsageName, type KeyUsageName } from './key-usages.js';
import { parseKeySpec, type KeyEncoding, type KeySpec } from './key-spec.js';
import { isCommonName, isDnsName, isIpAddress, isUri, MAX_COMMON_NAME_LENGTH } from './names.js';
import { findRefusedName, type CertificatePolicy, type NameKind, type RequestedNames } from './policy.js';
import {
  POD_VARIABLES,
  TemplateError,
  expandTemplate,
  parseTemplate,
  podTemplateValues,
  type TemplateValues,
} from './templates.js';

export const ATTRIBUTE = {
  commonName: 'common-name',
  dnsNames: 'dns-names',
  ipSans: 'ip-sans',
  uriSans: 'uri-sans',
  duration: 'duration',
  keyAlgorithm: 'key-algorithm',
  keySize: 'key-size',
  keyEncoding: 'key-encoding',
  isCA: 'is-ca',
  keyUsages: 'key-usages',
  certificateFile: 'certificate-file',
  privateKeyFile: 'privatekey-file',
  caFile: 'ca-file',
} as const;

export const ATTRIBUTE_KEYS: readonly string[] = Object.values(ATTRIBUTE);

const DEFAULT_DURATION = '24h';
const DEFAULT_FILE_NAMES = { certificate: 'tls.crt', privateKey: 'tls.key', ca: 'ca.crt' } as const;

export interface FileNames {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}

export interface LocalCaAttributes extends RequestedNames {
  readonly durationMs: number;
  readonly key: KeySpec;
  readonly keyEncoding: KeyEncoding;
  readonly isCA: boolean;
  readonly keyUsages: readonly KeyUsageName[];
  readonly fileNames: FileNames;
}

/** What parsing needs to know about the instance. */
export interface AttributeContext {
  readonly instanceName: string;
  readonly policy: CertificatePolicy;
}

type Attributes = Readonly<Record<string, string>>;

/**
 * Validates the attributes this provider understands (others are the core's
 * business) and enforces the instance's policy. Throws INVALID_ARGUMENT for
 * malformed values and PERMISSION_DENIED for what the policy refuses.
 */
export function parseLocalCaAttributes(attributes: Attributes, pod: PodIdentity, context: AttributeContext): LocalCaAttributes {
  const { names, usesDefaultSpiffeId } = parseRequestedNames(attributes, pod, context.policy.trustDomain);
  const duration = durationText(attributes);
  const { key, keyEncoding } = parseKeySpec(
    attributes[ATTRIBUTE.keyAlgorithm],
    attributes[ATTRIBUTE.keySize],
    attributes[ATTRIBUTE.keyEncoding],
  );
  const isCA = parseBoolean(ATTRIBUTE.isCA, attributes[ATTRIBUTE.isCA]);
  const parsed: LocalCaAttributes = {
    ...names,
    durationMs: parseDurationAttribute(duration),
    key,
    keyEncoding,
    isCA,
    keyUsages: Object.freeze(parseKeyUsages(attributes[ATTRIBUTE.keyUsages], isCA)),
    fileNames: Object.freeze(parseFileNames(attributes)),
  };
  enforcePolicy(parsed, { pod, usesDefaultSpiffeId, durationText: duration }, context);
  return Object.freeze(parsed);
}

// --- names -----------------------------------------------------------------

interface NameRule {
  readonly attribute: string;
  readonly description: string;
  readonly normalize: (name: string) => string;
  readonly isValid: (name: string) => boolean;
}

const DNS_NAME_RULE: NameRule = {
  attribute: ATTRIBUTE.dnsNames,
  description: 'a valid DNS name',
  normalize: (name) => name.toLowerCase(),
  isValid: isDnsName,
};
const IP_ADDRESS_RULE: NameRule = {
  attribute: ATTRIBUTE.ipSans,
  description: 'a valid IP address',
  normalize: (name) => name,
  isValid: isIpAddress,
};
const URI_RULE: NameRule = {
  attribute: ATTRIBUTE.uriSans,
  description: 'a valid absolute URI',
  normalize: (name) => name,
  isValid: isUri,
};
const COMMON_NAME_RULE: NameRule = {
  attribute: ATTRIBUTE.commonName,
  description: `a valid common name (1 to ${MAX_COMMON_NAME_LENGTH} characters, no control characters)`,
  normalize: (name) => name,
  isValid: isCommonName,
};

interface ParsedNames {
  readonly names: RequestedNames;
  /** True when the pod asked for no name and gets its SPIFFE ID as URI SAN. */
  readonly usesDefaultSpiffeId: boolean;
}

function parseRequestedNames(attributes: Attributes, pod: PodIdentity, trustDomain: string): ParsedNames {
  const values = podTemplateValues(pod);
  const commonNameTemplate = attributes[ATTRIBUTE.commonName]?.trim() ?? '';
  const names: RequestedNames = {
    commonName: commonNameTemplate === '' ? undefined : expandName(COMMON_NAME_RULE, commonNameTemplate, values),
    dnsNames: parseNameList(DNS_NAME_RULE, attributes, values),
    ipAddresses: parseNameList(IP_ADDRESS_RULE, attributes, values),
    uris: parseNameList(URI_RULE, attributes, values),
  };
  if (!isEmpty(names)) return { names, usesDefaultSpiffeId: false };
  return { names: { ...names, uris: Object.freeze([spiffeId(trustDomain, pod)]) }, usesDefaultSpiffeId: true };
}

/** The pod's SPIFFE ID, which a certificate carries when the pod asks for no name. */
export function spiffeId(trustDomain: string, pod: PodIdentity): string {
  return `spiffe://${trustDomain}/ns/${pod.namespace}/sa/${pod.serviceAccountName}`;
}

function isEmpty(names: RequestedNames): boolean {
  return (
    names.commonName === undefined && names.dnsNames.length === 0 && names.ipAddresses.length === 0 && names.uris.length === 0
  );
}

function parseNameList(rule: NameRule, attributes: Attributes, values: TemplateValues): readonly string[] {
  const expanded = splitList(attributes[rule.attribute]).map((template) => expandName(rule, template, values));
  return Object.freeze([...new Set(expanded)]);
}

function expandName(rule: NameRule, template: string, values: TemplateValues): string {
  const name = rule.normalize(expandAttributeTemplate(rule.attribute, template, values));
  if (!rule.isValid(name)) {
    const origin = name === template ? '' : ` (expanded from "${template}")`;
    throw invalidArgument(`attribute "${rule.attribute}": "${name}"${origin} is not ${rule.description}`);
  }
  return name;
}

function expandAttributeTemplate(attribute: string, template: string, values: TemplateValues): string {
  try {
    return expandTemplate(parseTemplate(template, POD_VARIABLES), values);
  } catch (error) {
    if (error instanceof TemplateError) throw invalidArgument(`attribute "${attribute}": ${error.message}`);
    throw error;
  }
}

/** "a, b,,c " → ["a", "b", "c"]. */
function splitList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

// --- other attributes ------------------------------------------------------

function durationText(attributes: Attributes): string {
  return attributes[ATTRIBUTE.duration]?.trim() ?? DEFAULT_DURATION;
}

function parseDurationAttribute(text: string): number {
  const durationMs = parseDuration(text);
  if (durationMs === undefined) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.duration}": "${text}" is not a duration; use Go syntax such as "24h", "90m", "1h30m" or "3600s"`,
    );
  }
  if (durationMs < ONE_MINUTE_MS) {
    throw invalidArgument(`attribute "${ATTRIBUTE.duration}": "${text}" is shorter than the minimum of 1m`);
  }
  return durationMs;
}

function parseBoolean(attribute: string, value: string | undefined): boolean {
  const text = value?.trim().toLowerCase() ?? 'false';
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw invalidArgument(`attribute "${attribute}": "${value ?? ''}" is neither "true" nor "false"`);
}

function parseKeyUsages(value: string | undefined, isCA: boolean): KeyUsageName[] {
  if (value === undefined) return [...DEFAULT_KEY_USAGES];
  // "Digital  Signature" and "digital signature" name the same usage.
  const requested = splitList(value).map((usage) => usage.toLowerCase().replace(/\s+/g, ' '));
  if (requested.length === 0) {
    throw invalidArgument(`attribute "${ATTRIBUTE.keyUsages}": lists no usage; leave it out for the default`);
  }
  const unknown = requested.find((usage) => !isKeyUsageName(usage));
  if (unknown !== undefined) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.keyUsages}": unknown usage "${unknown}" (known: ${KEY_USAGE_NAMES.join(', ')})`,
    );
  }
  // RFC 5280 4.2.1.3: keyCertSign is only for CA certificates (is-ca adds it by itself).
  if (requested.includes('cert sign') && !isCA) {
    throw invalidArgument(`attribute "${ATTRIBUTE.keyUsages}": "cert sign" needs "${ATTRIBUTE.isCA}: true"`);
  }
  return [...new Set(requested.filter(isKeyUsageName))];
}

function parseFileNames(attributes: Attributes): FileNames {
  const fileName = (attribute: string, fallback: string): string => {
    const name = attributes[attribute]?.trim() ?? fallback;
    if (name === '') throw invalidArgument(`attribute "${attribute}": must not be empty`);
    return name;
  };
  const fileNames: FileNames = {
    certificate: fileName(ATTRIBUTE.certificateFile, DEFAULT_FILE_NAMES.certificate),
    privateKey: fileName(ATTRIBUTE.privateKeyFile, DEFAULT_FILE_NAMES.privateKey),
    ca: fileName(ATTRIBUTE.caFile, DEFAULT_FILE_NAMES.ca),
  };
  const distinct = new Set([fileNames.certificate, fileNames.privateKey, fileNames.ca]);
  if (distinct.size < 3) {
    throw invalidArgument(
      `attributes "${ATTRIBUTE.certificateFile}" ("${fileNames.certificate}"), "${ATTRIBUTE.privateKeyFile}" ` +
        `("${fileNames.privateKey}") and "${ATTRIBUTE.caFile}" ("${fileNames.ca}") must name three different files`,
    );
  }
  return fileNames;
}

// --- policy ----------------------------------------------------------------

const ATTRIBUTE_OF_NAME_KIND: Readonly<Record<NameKind, string>> = {
  commonName: ATTRIBUTE.commonName,
  dnsNames: ATTRIBUTE.dnsNames,
  ipAddresses: ATTRIBUTE.ipSans,
  uris: ATTRIBUTE.uriSans,
};

interface PolicyFacts {
  readonly pod: PodIdentity;
  readonly usesDefaultSpiffeId: boolean;
  readonly durationText: string;
}

function enforcePolicy(parsed: LocalCaAttributes, facts: PolicyFacts, context: AttributeContext): void {
  const { policy, instanceName } = context;
  const policyName = `the policy of local-ca instance "${instanceName}"`;
  const refused = findRefusedName(policy, parsed, facts.pod);
  if (refused !== undefined) {
    const attribute = ATTRIBUTE_OF_NAME_KIND[refused.kind];
    const what = facts.usesDefaultSpiffeId
      ? `no name was requested, and the pod's SPIFFE ID "${refused.value}"`
      : `"${refused.value}"`;
    throw permissionDenied(`attribute "${attribute}": ${what} is not allowed by ${policyName}`);
  }
  if (parsed.durationMs > policy.maxDurationMs) {
    throw permissionDenied(
      `attribute "${ATTRIBUTE.duration}": "${facts.durationText}" is not allowed by ${policyName} ` +
        `(maximum ${policy.maxDurationText})`,
    );
  }
  if (parsed.isCA && !policy.allowIsCA) {
    throw permissionDenied(`attribute "${ATTRIBUTE.isCA}": "true" (a CA certificate) is not allowed by ${policyName}`);
  }
}
