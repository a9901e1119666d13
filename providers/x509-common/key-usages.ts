/**
 * The `key-usages` and `ext-key-usages` attributes: cert-manager's usage
 * names, mapped to X.509 KeyUsage bits and ExtendedKeyUsage purposes (OIDs).
 *
 * How the two combine: `key-usages` may name basic and extended usages (as in
 * cert-manager). When `ext-key-usages` is set, it alone defines the extended
 * usages, and `key-usages` may then name basic usages only (an extended name
 * there is refused, so one list never silently overrides the other).
 */
import type { KeyUsageFlags } from '@peculiar/x509';
import { excerpt, invalidArgument } from '../../src/provider/contract.js';
import { CERTIFICATE_ATTRIBUTE } from './attribute-names.js';
import { splitList } from './lists.js';
import { x509 } from './x509.js';

const { KeyUsageFlags: Bit, ExtendedKeyUsage: Purpose } = x509;

const BASIC_USAGES = {
  signing: Bit.digitalSignature,
  'digital signature': Bit.digitalSignature,
  'content commitment': Bit.nonRepudiation,
  'key encipherment': Bit.keyEncipherment,
  'key agreement': Bit.keyAgreement,
  'data encipherment': Bit.dataEncipherment,
  'cert sign': Bit.keyCertSign,
  'crl sign': Bit.cRLSign,
  'encipher only': Bit.encipherOnly,
  'decipher only': Bit.decipherOnly,
} as const satisfies Record<string, KeyUsageFlags>;

const EXTENDED_USAGES = {
  'server auth': Purpose.serverAuth,
  'client auth': Purpose.clientAuth,
  'code signing': Purpose.codeSigning,
  'email protection': Purpose.emailProtection,
  timestamping: Purpose.timeStamping,
  'ocsp signing': Purpose.ocspSigning,
} as const satisfies Record<string, string>;

export type BasicKeyUsageName = keyof typeof BASIC_USAGES;
export type ExtendedKeyUsageName = keyof typeof EXTENDED_USAGES;
export type KeyUsageName = BasicKeyUsageName | ExtendedKeyUsageName;

const BASIC_NAMES = Object.keys(BASIC_USAGES) as readonly BasicKeyUsageName[];
const EXTENDED_NAMES = Object.keys(EXTENDED_USAGES) as readonly ExtendedKeyUsageName[];
export const KEY_USAGE_NAMES: readonly KeyUsageName[] = [...BASIC_NAMES, ...EXTENDED_NAMES];

export const DEFAULT_KEY_USAGES: readonly KeyUsageName[] = ['digital signature', 'key encipherment', 'server auth', 'client auth'];

/** What a certificate (or CSR) carries: KeyUsage bits by name, ExtendedKeyUsage purposes as OIDs. */
export interface KeyUsages {
  readonly basic: readonly BasicKeyUsageName[];
  /** Dotted OIDs, in request order; empty means no ExtendedKeyUsage extension. */
  readonly extended: readonly string[];
}

/** A dotted-decimal OID, which `ext-key-usages` accepts for purposes without a name. */
const DOTTED_OID = /^[0-2](?:\.(?:0|[1-9]\d{0,9})){1,30}$/;

const ATTRIBUTE = { usages: CERTIFICATE_ATTRIBUTE.keyUsages, extended: CERTIFICATE_ATTRIBUTE.extKeyUsages } as const;
/** Far more than the usages there are; bounds the work a hostile list can cause. */
const MAX_USAGE_ITEMS = 32;

/** Parses both attributes (undefined = not set); throws INVALID_ARGUMENT naming the attribute. */
export function parseKeyUsages(usagesText: string | undefined, extendedText: string | undefined, isCA: boolean): KeyUsages {
  const usages = usagesText === undefined ? [...DEFAULT_KEY_USAGES] : parseNames(ATTRIBUTE.usages, usagesText, KEY_USAGE_NAMES);
  // RFC 5280 4.2.1.3: keyCertSign is only for CA certificates (is-ca adds it by itself).
  if (usages.includes('cert sign') && !isCA) {
    throw invalidArgument(`attribute "${ATTRIBUTE.usages}": "cert sign" needs "${CERTIFICATE_ATTRIBUTE.isCA}: true"`);
  }
  const basic = usages.filter(isBasic);
  if (extendedText === undefined) {
    return freeze(basic, usages.filter(isExtended).map((name) => EXTENDED_USAGES[name]));
  }
  const misplaced = usagesText === undefined ? undefined : usages.find(isExtended);
  if (misplaced !== undefined) {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.usages}": "${misplaced}" is an extended usage; with "${ATTRIBUTE.extended}" set, ` +
        `list every extended usage there and only basic usages in "${ATTRIBUTE.usages}"`,
    );
  }
  return freeze(basic, parseExtended(extendedText));
}

function parseExtended(text: string): string[] {
  const requested = splitList(ATTRIBUTE.extended, text, MAX_USAGE_ITEMS);
  if (requested.length === 0) throw emptyList(ATTRIBUTE.extended);
  const oids = requested.map((entry) => {
    const name = normalizeName(entry);
    if (isExtended(name)) return EXTENDED_USAGES[name];
    if (DOTTED_OID.test(entry)) return entry;
    throw invalidArgument(
      `attribute "${ATTRIBUTE.extended}": unknown extended usage ${excerpt(entry)} ` +
        `(known: ${EXTENDED_NAMES.join(', ')}, or a dotted OID such as 1.3.6.1.5.5.7.3.1)`,
    );
  });
  return [...new Set(oids)];
}

function parseNames<Name extends string>(attribute: string, text: string, known: readonly Name[]): Name[] {
  const requested = splitList(attribute, text, MAX_USAGE_ITEMS).map(normalizeName);
  if (requested.length === 0) throw emptyList(attribute);
  const unknown = requested.find((name) => !(known as readonly string[]).includes(name));
  if (unknown !== undefined) throw invalidArgument(`attribute "${attribute}": unknown usage ${excerpt(unknown)} (known: ${known.join(', ')})`);
  return [...new Set(requested as Name[])];
}

/** "Digital  Signature" and "digital signature" name the same usage. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\s+/g, ' ');
}

function emptyList(attribute: string): Error {
  return invalidArgument(`attribute "${attribute}": lists no usage; leave it out for the default`);
}

function isBasic(name: string): name is BasicKeyUsageName {
  return Object.hasOwn(BASIC_USAGES, name);
}

function isExtended(name: string): name is ExtendedKeyUsageName {
  return Object.hasOwn(EXTENDED_USAGES, name);
}

function freeze(basic: readonly BasicKeyUsageName[], extended: readonly string[]): KeyUsages {
  return Object.freeze({ basic: Object.freeze([...new Set(basic)]), extended: Object.freeze([...extended]) });
}

/** The KeyUsage bits for the given names (0 when none). */
export function keyUsageBits(usages: readonly BasicKeyUsageName[]): number {
  return usages.reduce<number>((bits, usage) => bits | BASIC_USAGES[usage], 0);
}

/** The cert-manager name of an extended usage OID, if it has one (for messages). */
export function extendedUsageName(oid: string): ExtendedKeyUsageName | undefined {
  return EXTENDED_NAME_BY_OID.get(oid);
}

const EXTENDED_NAME_BY_OID: ReadonlyMap<string, ExtendedKeyUsageName> = new Map(EXTENDED_NAMES.map((name) => [EXTENDED_USAGES[name], name]));

/**
 * An admin's list of allowed usages (names as in `key-usages`, or dotted OIDs
 * of extended usages) as KeyUsage bits and extended-usage OIDs; the entry
 * that is neither is returned as `unknown`.
 */
export function allowedUsages(entries: readonly string[]): { bits: number; extended: ReadonlySet<string>; unknownIndex: number | undefined } {
  let bits = 0;
  const extended = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const name = normalizeName(entry.trim());
    if (isBasic(name)) bits |= BASIC_USAGES[name];
    else if (isExtended(name)) extended.add(EXTENDED_USAGES[name]);
    else if (DOTTED_OID.test(entry.trim())) extended.add(entry.trim());
    else return { bits, extended, unknownIndex: index };
  }
  return { bits, extended, unknownIndex: undefined };
}
