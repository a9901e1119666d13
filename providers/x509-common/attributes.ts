/**
 * The pod's certificate attributes, parsed and syntax-checked before anything
 * is mounted. Policy (which names a pod may ask for) is each provider's own
 * business and runs on the result.
 */
import { invalidArgument, parseDuration, type PodIdentity } from '../../src/provider/contract.js';
import { CERTIFICATE_ATTRIBUTE as ATTRIBUTE } from './attribute-names.js';
import {
  DistinguishedNameError,
  OID,
  checkSubjectTextLength,
  commonNamesOf,
  escapeDistinguishedNameValue,
  parseDistinguishedName,
  type DistinguishedName,
} from './distinguished-name.js';
import { parseKeySpec, type KeyEncoding, type KeySpec } from './key-spec.js';
import { parseKeyUsages, type KeyUsages } from './key-usages.js';
import { splitList } from './lists.js';
import {
  MAX_COMMON_NAME_LENGTH,
  MAX_SUBJECT_VALUE_LENGTH,
  excerpt,
  isCommonName,
  isDnsName,
  isEmailAddress,
  isIpAddress,
  isSubjectValue,
  isUri,
  lowerCaseDomain,
} from './names.js';
import { POD_VARIABLES, TemplateError, expandTemplate, parseTemplate, podTemplateValues, type TemplateValues } from './templates.js';

/** The names a pod asks for, already expanded and syntax-checked. */
export interface RequestedNames {
  /** From `common-name`, or the CN of `literal-subject`. */
  readonly commonName: string | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
}

export type NameKind = keyof RequestedNames;

export interface FileNames {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}

export interface Pkcs12Options {
  readonly fileName: string;
  /** Legacy algorithms (3DES, SHA-1 MAC) for Java before 8u301 and other old readers. */
  readonly legacy: boolean;
}

export interface CertificateAttributes extends RequestedNames {
  /** The subject in DER order: `literal-subject`, or `organizations` then `common-name`; empty when none. */
  readonly subject: DistinguishedName;
  /** True when the pod asked for no name and got the provider's default URI SAN. */
  readonly usesDefaultUri: boolean;
  readonly durationMs: number;
  /** The pod's spelling of the duration, for messages. */
  readonly durationText: string;
  /** `renew-before`; undefined means one third of the lifetime (see renewalTime). */
  readonly renewBeforeMs: number | undefined;
  readonly key: KeySpec;
  readonly keyEncoding: KeyEncoding;
  readonly reusePrivateKey: boolean;
  readonly isCA: boolean;
  readonly keyUsages: KeyUsages;
  readonly fileNames: FileNames;
  /** Set when `pkcs12-enable: "true"`. */
  readonly pkcs12: Pkcs12Options | undefined;
}

export interface CertificateAttributeOptions {
  /**
   * The URI SAN a pod that asks for no name at all gets (local-ca: its SPIFFE
   * ID). Without it, such a request parses with no names, and the provider
   * decides.
   */
  readonly defaultUri?: string;
}

type Attributes = Readonly<Record<string, string>>;

const DEFAULT_DURATION = '24h';
const DEFAULT_FILE_NAMES = { certificate: 'tls.crt', privateKey: 'tls.key', ca: 'ca.crt', pkcs12: 'keystore.p12' } as const;

/**
 * Validates the certificate attributes (others are the core's business) into
 * a frozen value. Throws INVALID_ARGUMENT naming the attribute.
 */
export function parseCertificateAttributes(
  attributes: Attributes,
  pod: PodIdentity,
  options: CertificateAttributeOptions = {},
): CertificateAttributes {
  if (attributes[ATTRIBUTE.pkcs12Password] !== undefined) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.pkcs12Password}": keymount never takes a password from volume attributes (anyone who can ` +
        `read the pod can read them); put it in a Secret under the key "${ATTRIBUTE.pkcs12Password}" and reference ` +
        'that Secret as the volume\'s nodePublishSecretRef',
    );
  }
  const values = podTemplateValues(pod);
  const { subject, commonName } = parseSubject(attributes, values);
  const requested: RequestedNames = {
    commonName,
    dnsNames: parseNameList(DNS_NAME_RULE, attributes, values),
    ipAddresses: parseNameList(IP_ADDRESS_RULE, attributes, values),
    uris: parseNameList(URI_RULE, attributes, values),
    emailAddresses: parseNameList(EMAIL_RULE, attributes, values),
  };
  const usesDefaultUri = options.defaultUri !== undefined && isEmpty(requested);
  const names = usesDefaultUri ? { ...requested, uris: Object.freeze([options.defaultUri ?? '']) } : requested;
  const durationText = attributes[ATTRIBUTE.duration]?.trim() ?? DEFAULT_DURATION;
  const { key, keyEncoding } = parseKeySpec(
    attributes[ATTRIBUTE.keyAlgorithm],
    attributes[ATTRIBUTE.keySize],
    attributes[ATTRIBUTE.keyEncoding],
  );
  const isCA = parseBoolean(ATTRIBUTE.isCA, attributes[ATTRIBUTE.isCA]);
  const pkcs12 = parsePkcs12(attributes);
  return Object.freeze({
    ...names,
    subject,
    usesDefaultUri,
    durationMs: parseLifetime(durationText),
    durationText,
    renewBeforeMs: parseRenewBefore(attributes[ATTRIBUTE.renewBefore]),
    key,
    keyEncoding,
    reusePrivateKey: parseBoolean(ATTRIBUTE.reusePrivateKey, attributes[ATTRIBUTE.reusePrivateKey]),
    isCA,
    keyUsages: parseKeyUsages(attributes[ATTRIBUTE.keyUsages], attributes[ATTRIBUTE.extKeyUsages], isCA),
    fileNames: parseFileNames(attributes, pkcs12),
    pkcs12,
  });
}

/** The pod's SPIFFE ID, the usual default URI SAN. */
export function spiffeId(trustDomain: string, pod: PodIdentity): string {
  return `spiffe://${trustDomain}/ns/${pod.namespace}/sa/${pod.serviceAccountName}`;
}

/** A pod "asks for no name" when it names no common name and no SAN. */
function isEmpty(names: RequestedNames): boolean {
  return (
    names.commonName === undefined &&
    names.dnsNames.length === 0 &&
    names.ipAddresses.length === 0 &&
    names.uris.length === 0 &&
    names.emailAddresses.length === 0
  );
}

// --- subject -----------------------------------------------------------------

interface ParsedSubject {
  readonly subject: DistinguishedName;
  readonly commonName: string | undefined;
}

function parseSubject(attributes: Attributes, values: TemplateValues): ParsedSubject {
  const commonNameTemplate = attributes[ATTRIBUTE.commonName]?.trim() ?? '';
  const commonName = commonNameTemplate === '' ? undefined : expandName(COMMON_NAME_RULE, commonNameTemplate, values);
  const organizations = parseNameList(ORGANIZATION_RULE, attributes, values);
  const literal = attributes[ATTRIBUTE.literalSubject];
  if (literal === undefined) {
    const rdns = [
      ...organizations.map((value) => [{ type: OID.organization, value }]),
      ...(commonName === undefined ? [] : [[{ type: OID.commonName, value: commonName }]]),
    ];
    return { subject: Object.freeze(rdns), commonName };
  }
  if (commonNameTemplate !== '' || organizations.length > 0) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.literalSubject}" sets the whole subject and cannot be combined with ` +
        `"${ATTRIBUTE.commonName}" or "${ATTRIBUTE.organizations}"; put CN= and O= into "${ATTRIBUTE.literalSubject}" instead`,
    );
  }
  const subject = parseLiteralSubject(literal, values);
  const commonNames = commonNamesOf(subject);
  if (commonNames.length > 1) {
    throw invalidArgument(`attribute "${ATTRIBUTE.literalSubject}": has ${commonNames.length} CN attributes; a certificate may carry one`);
  }
  return { subject, commonName: commonNames[0] };
}

function parseLiteralSubject(template: string, values: TemplateValues): DistinguishedName {
  try {
    // The size is checked before anything else looks at the value: a 250 KB subject is refused, not parsed.
    checkSubjectTextLength(template);
    // Substituted values are escaped, so a pod's name can never add an attribute to the subject.
    const text = expandAttributeTemplate(ATTRIBUTE.literalSubject, template, values, escapeDistinguishedNameValue);
    return parseDistinguishedName(text);
  } catch (error) {
    if (error instanceof DistinguishedNameError) {
      throw invalidArgument(
        `attribute "${ATTRIBUTE.literalSubject}": ${excerpt(template)} ${error.message}; ` +
          'write an RFC 4514 name such as "CN=app,O=Example,C=DE"',
      );
    }
    throw error;
  }
}

// --- names -------------------------------------------------------------------

interface NameRule {
  readonly attribute: string;
  readonly description: string;
  readonly normalize: (name: string) => string;
  readonly isValid: (name: string) => boolean;
}

function rule(attribute: string, description: string, isValid: (name: string) => boolean, normalize = (name: string) => name): NameRule {
  return { attribute, description, isValid, normalize };
}

const NO_CONTROL_CHARACTERS = 'characters, no control characters';
const DNS_NAME_RULE = rule(ATTRIBUTE.dnsNames, 'a valid DNS name', isDnsName, (name) => name.toLowerCase());
const IP_ADDRESS_RULE = rule(ATTRIBUTE.ipSans, 'a valid IP address', isIpAddress);
const URI_RULE = rule(ATTRIBUTE.uriSans, 'a valid absolute URI', isUri);
const EMAIL_RULE = rule(ATTRIBUTE.emailSans, 'a valid email address (local@domain, ASCII)', isEmailAddress, lowerCaseDomain);
const COMMON_NAME_RULE = rule(
  ATTRIBUTE.commonName,
  `a valid common name (1 to ${MAX_COMMON_NAME_LENGTH} ${NO_CONTROL_CHARACTERS})`,
  isCommonName,
);
const ORGANIZATION_RULE = rule(
  ATTRIBUTE.organizations,
  `a valid organization name (1 to ${MAX_SUBJECT_VALUE_LENGTH} ${NO_CONTROL_CHARACTERS})`,
  (name) => isSubjectValue(name),
);

function parseNameList(rule: NameRule, attributes: Attributes, values: TemplateValues): readonly string[] {
  const expanded = splitList(rule.attribute, attributes[rule.attribute]).map((template) => expandName(rule, template, values));
  return Object.freeze([...new Set(expanded)]);
}

function expandName(rule: NameRule, template: string, values: TemplateValues): string {
  const name = rule.normalize(expandAttributeTemplate(rule.attribute, template, values));
  if (!rule.isValid(name)) {
    const origin = name === template ? '' : ` (expanded from ${excerpt(template)})`;
    throw invalidArgument(`attribute "${rule.attribute}": ${excerpt(name)}${origin} is not ${rule.description}`);
  }
  return name;
}

function expandAttributeTemplate(
  attribute: string,
  template: string,
  values: TemplateValues,
  encodeValue?: (value: string) => string,
): string {
  try {
    return expandTemplate(parseTemplate(template, POD_VARIABLES), values, encodeValue);
  } catch (error) {
    if (error instanceof TemplateError) throw invalidArgument(`attribute "${attribute}": ${error.message}`);
    throw error;
  }
}

// --- other attributes ----------------------------------------------------------

/** Short lifetimes are allowed (down to seconds) for short-lived workloads and tests; policies bound the top. */
const MIN_LIFETIME_MS = 2_000;

function parseLifetime(text: string): number {
  const durationMs = parseGoDuration(ATTRIBUTE.duration, text);
  if (durationMs < MIN_LIFETIME_MS) {
    throw invalidArgument(`attribute "${ATTRIBUTE.duration}": ${excerpt(text)} is shorter than the minimum of 2s`);
  }
  return durationMs;
}

function parseRenewBefore(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const renewBeforeMs = parseGoDuration(ATTRIBUTE.renewBefore, text.trim());
  if (renewBeforeMs < 1000) {
    throw invalidArgument(`attribute "${ATTRIBUTE.renewBefore}": ${excerpt(text)} is shorter than the minimum of 1s`);
  }
  return renewBeforeMs;
}

function parseGoDuration(attribute: string, text: string): number {
  const durationMs = parseDuration(text);
  if (durationMs === undefined) {
    throw invalidArgument(
      `attribute "${attribute}": ${excerpt(text)} is not a duration; use Go syntax such as "24h", "90m", "1h30m" or "3600s"`,
    );
  }
  return durationMs;
}

function parseBoolean(attribute: string, value: string | undefined): boolean {
  const text = value?.trim().toLowerCase() ?? 'false';
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw invalidArgument(`attribute "${attribute}": ${excerpt(value ?? '')} is neither "true" nor "false"`);
}

function parsePkcs12(attributes: Attributes): Pkcs12Options | undefined {
  const enabled = parseBoolean(ATTRIBUTE.pkcs12Enable, attributes[ATTRIBUTE.pkcs12Enable]);
  const legacy = parseBoolean(ATTRIBUTE.pkcs12Legacy, attributes[ATTRIBUTE.pkcs12Legacy]);
  if (!enabled) {
    // A keystore option without the keystore is a mistake the pod's author wants to hear about.
    const orphan = [ATTRIBUTE.pkcs12FileName, ATTRIBUTE.pkcs12Legacy].find((key) => attributes[key] !== undefined);
    if (orphan !== undefined) throw invalidArgument(`attribute "${orphan}" needs "${ATTRIBUTE.pkcs12Enable}: true"`);
    return undefined;
  }
  return Object.freeze({ fileName: fileName(attributes, ATTRIBUTE.pkcs12FileName, DEFAULT_FILE_NAMES.pkcs12), legacy });
}

function parseFileNames(attributes: Attributes, pkcs12: Pkcs12Options | undefined): FileNames {
  const fileNames: FileNames = Object.freeze({
    certificate: fileName(attributes, ATTRIBUTE.certificateFile, DEFAULT_FILE_NAMES.certificate),
    privateKey: fileName(attributes, ATTRIBUTE.privateKeyFile, DEFAULT_FILE_NAMES.privateKey),
    ca: fileName(attributes, ATTRIBUTE.caFile, DEFAULT_FILE_NAMES.ca),
  });
  const named: [string, string][] = [
    [ATTRIBUTE.certificateFile, fileNames.certificate],
    [ATTRIBUTE.privateKeyFile, fileNames.privateKey],
    [ATTRIBUTE.caFile, fileNames.ca],
    ...(pkcs12 === undefined ? [] : [[ATTRIBUTE.pkcs12FileName, pkcs12.fileName] as [string, string]]),
  ];
  if (new Set(named.map(([, name]) => name)).size < named.length) {
    const listed = named.map(([attribute, name]) => `"${attribute}" (${excerpt(name)})`).join(', ');
    throw invalidArgument(`attributes ${listed} must name ${named.length} different files`);
  }
  return fileNames;
}

function fileName(attributes: Attributes, attribute: string, fallback: string): string {
  const name = attributes[attribute]?.trim() ?? fallback;
  if (name === '') throw invalidArgument(`attribute "${attribute}": must not be empty`);
  return name;
}
