/**
 * Subjects: the RFC 4514 strings of the `literal-subject` attribute, parsed
 * strictly (@peculiar/x509's own string parser silently drops what it does
 * not understand, so a typo would vanish from the certificate), and their
 * encoding as an X.509 Name.
 *
 * RFC 4514 writes the most specific RDN first: "CN=app,O=Example,C=DE" is the
 * DER sequence C, O, CN. Parsed names are kept in DER order.
 */
import type { JsonAttributeObject, JsonNameParams, Name } from '@peculiar/x509';
import { MAX_COMMON_NAME_LENGTH, excerpt, isCommonName, isEmailAddress, isSubjectValue, lowerCaseDomain } from './names.js';
import { x509 } from './x509.js';

/** One attribute of a relative distinguished name: the type as a dotted OID. */
export interface NameAttribute {
  readonly type: string;
  readonly value: string;
}

/** RDNs in DER order (the reverse of RFC 4514 string order); empty for an empty subject. */
export type DistinguishedName = readonly (readonly NameAttribute[])[];

export const OID = {
  commonName: '2.5.4.3',
  serialNumber: '2.5.4.5',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  domainComponent: '0.9.2342.19200300.100.1.25',
  /** PKCS #9 emailAddress: verifiers that look at the subject take it as the holder's address. */
  emailAddress: '1.2.840.113549.1.9.1',
  /** RFC 4524 mail (rfc822Mailbox): another spelling of the same thing. */
  mail: '0.9.2342.19200300.100.1.3',
} as const;

/**
 * Attribute type names (upper-cased) and their OIDs: those RFC 4514 section 3
 * lists, plus serialNumber, postalCode and the two email types. The first
 * name of an OID is how messages name it.
 */
const TYPE_OIDS: Readonly<Record<string, string>> = {
  CN: OID.commonName,
  C: OID.country,
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: OID.organization,
  OU: '2.5.4.11',
  SERIALNUMBER: OID.serialNumber,
  POSTALCODE: '2.5.4.17',
  DC: OID.domainComponent,
  UID: '0.9.2342.19200300.100.1.1',
  EMAILADDRESS: OID.emailAddress,
  E: OID.emailAddress,
  MAIL: OID.mail,
};

/** How messages and settings spell each known OID. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  [OID.commonName]: 'CN',
  [OID.country]: 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  [OID.organization]: 'O',
  '2.5.4.11': 'OU',
  [OID.serialNumber]: 'serialNumber',
  '2.5.4.17': 'postalCode',
  [OID.domainComponent]: 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  [OID.emailAddress]: 'emailAddress',
  [OID.mail]: 'mail',
};

/** Attribute types whose value is an email address. */
export const EMAIL_TYPES: ReadonlySet<string> = new Set([OID.emailAddress, OID.mail]);

const KNOWN_TYPES = 'CN, C, L, ST, STREET, O, OU, serialNumber, postalCode, DC, UID, emailAddress, mail or a dotted OID';
const MAX_VALUE_LENGTH = 128;

/**
 * Structure limits, checked as the reader goes so that a hostile subject is
 * refused after a bounded amount of work. Real subjects stay far below them.
 */
export const MAX_SUBJECT_TEXT_LENGTH = 1024;
const MAX_RDNS = 16;
const MAX_ATTRIBUTES_PER_RDN = 4;
const MAX_ATTRIBUTE_VALUES = 16;
/** OIDs: at most this many arcs and digits per arc (UUID OIDs under 2.25 have 39-digit arcs). */
const MAX_OID_ARCS = 20;
const MAX_OID_ARC_DIGITS = 39;

/** A malformed subject string; callers turn it into their own error kind. */
export class DistinguishedNameError extends Error {
  override readonly name = 'DistinguishedNameError';
}

/** Parses an RFC 4514 string; spaces around `,`, `+` and `=` are tolerated. */
export function parseDistinguishedName(text: string): DistinguishedName {
  checkSubjectTextLength(text);
  const rdns = new DnReader(text).readName();
  return Object.freeze(rdns.reverse().map((rdn) => Object.freeze(rdn)));
}

/** Refuses a subject string too long to be a real one, before any parsing. */
export function checkSubjectTextLength(text: string): void {
  if (text.length > MAX_SUBJECT_TEXT_LENGTH) {
    throw new DistinguishedNameError(`is ${text.length} characters long, over the limit of ${MAX_SUBJECT_TEXT_LENGTH}`);
  }
}

/**
 * The canonical OID of an attribute type written as a name (any case) or as
 * a dotted OID; throws DistinguishedNameError for an unknown name or an OID
 * that is not canonical (a leading zero in an arc, too many arcs).
 */
export function attributeTypeOid(typeText: string): string {
  if (/^[0-9.]+$/.test(typeText)) return canonicalOid(typeText);
  const oid = DESCRIPTOR.test(typeText) ? TYPE_OIDS[typeText.toUpperCase()] : undefined;
  if (oid === undefined) throw new DistinguishedNameError(`unknown attribute type ${excerpt(typeText)} (known: ${KNOWN_TYPES})`);
  return oid;
}

/** "O", "emailAddress", or the dotted OID of a type without a name. */
export function attributeTypeName(oid: string): string {
  return TYPE_NAMES[oid] ?? oid;
}

/**
 * Two spellings of one OID must never be two types: "2.5.4.03" would get
 * past every check on CN and still be read as CN by some verifiers, so only
 * the canonical spelling (no leading zeros, X.660 first arc) is accepted.
 */
function canonicalOid(text: string): string {
  const arcs = text.split('.');
  const shown = excerpt(text);
  if (arcs.length < 2 || arcs.some((arc) => arc === '')) throw new DistinguishedNameError(`${shown} is not a dotted OID`);
  if (arcs.length > MAX_OID_ARCS) throw new DistinguishedNameError(`OID ${shown} has more than ${MAX_OID_ARCS} arcs`);
  if (arcs.some((arc) => arc.length > 1 && arc.startsWith('0'))) {
    throw new DistinguishedNameError(`OID ${shown} has an arc with a leading zero; write each arc without leading zeros, such as 2.5.4.3`);
  }
  if (arcs.some((arc) => arc.length > MAX_OID_ARC_DIGITS)) {
    throw new DistinguishedNameError(`OID ${shown} has an arc longer than ${MAX_OID_ARC_DIGITS} digits`);
  }
  const [first = '', second = ''] = arcs;
  if (!['0', '1', '2'].includes(first) || (first !== '2' && Number(second) > 39)) {
    throw new DistinguishedNameError(`${shown} is not a valid OID (the first arc is 0, 1 or 2; under 0 and 1 the second is at most 39)`);
  }
  return text;
}

/** The email addresses a subject carries (emailAddress and mail attributes). */
export function emailAddressesOf(name: DistinguishedName): string[] {
  return name.flatMap((rdn) => rdn.filter((attribute) => EMAIL_TYPES.has(attribute.type)).map((attribute) => attribute.value));
}

/** Escapes a value for an RFC 4514 string, so a substituted pod name can never add an attribute. */
export function escapeDistinguishedNameValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (character) => `\\${character}`)
    .replace(/^[ #]/, (character) => `\\${character}`)
    .replace(/ $/, '\\ ');
}

/** The common names of a subject, in DER order. */
export function commonNamesOf(name: DistinguishedName): string[] {
  return name.flatMap((rdn) => rdn.filter((attribute) => attribute.type === OID.commonName).map((attribute) => attribute.value));
}

/** The subject as @peculiar/x509 encodes it: PrintableString where possible, else UTF8String; IA5String for DC. */
export function toX509Name(name: DistinguishedName): Name {
  const json: JsonNameParams = name.map((rdn) => {
    const item: Record<string, JsonAttributeObject[]> = {};
    for (const { type, value } of rdn) (item[type] ??= []).push(encodedValue(type, value));
    return item;
  });
  return new x509.Name(json);
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function encodedValue(type: string, value: string): JsonAttributeObject {
  if (type === OID.domainComponent || EMAIL_TYPES.has(type)) return { ia5String: value };
  return PRINTABLE.test(value) ? { printableString: value } : { utf8String: value };
}

// --- the reader ----------------------------------------------------------------

/** Characters RFC 4514 wants escaped inside a value. */
const MUST_ESCAPE = new Set(['"', ';', '<', '>', '\\']);
const DESCRIPTOR = /^[A-Za-z][A-Za-z0-9-]*$/;

class DnReader {
  private position = 0;

  constructor(private readonly text: string) {}

  readName(): NameAttribute[][] {
    this.skipSpaces();
    if (this.atEnd()) throw new DistinguishedNameError('is empty');
    const rdns: NameAttribute[][] = [];
    let values = 0;
    for (;;) {
      if (rdns.length === MAX_RDNS) throw this.error(`has more than ${MAX_RDNS} RDNs`);
      const rdn = [this.readAttribute()];
      while (this.peek() === '+') {
        if (rdn.length === MAX_ATTRIBUTES_PER_RDN) throw this.error(`has more than ${MAX_ATTRIBUTES_PER_RDN} attributes in one RDN`);
        this.position++;
        rdn.push(this.readAttribute());
      }
      values += rdn.length;
      if (values > MAX_ATTRIBUTE_VALUES) throw this.error(`has more than ${MAX_ATTRIBUTE_VALUES} attribute values`);
      rdns.push(rdn);
      if (this.atEnd()) return rdns;
      if (this.peek() !== ',') throw this.error(`expected "," or "+" at position ${this.position + 1}`);
      this.position++;
    }
  }

  private readAttribute(): NameAttribute {
    this.skipSpaces();
    const start = this.position;
    while (!this.atEnd() && /[A-Za-z0-9.-]/.test(this.peek())) this.position++;
    const typeText = this.text.slice(start, this.position);
    this.skipSpaces();
    if (this.peek() !== '=') {
      throw this.error(typeText === '' ? `expected an attribute type at position ${start + 1}` : `expected "=" after ${excerpt(typeText)}`);
    }
    this.position++;
    const type = attributeTypeOid(typeText);
    this.skipSpaces();
    const value = this.readValue(typeText);
    checkValue(type, typeText, value, this);
    // Addresses are compared with policy patterns: their case-insensitive domain is lower-cased first.
    return { type, value: EMAIL_TYPES.has(type) ? lowerCaseDomain(value) : value };
  }

  /** Up to the next unescaped `,` or `+`; `\X` and `\hh` escapes; unescaped trailing spaces dropped. */
  private readValue(typeText: string): string {
    if (this.peek() === '#') throw this.error(`${excerpt(typeText)}: hex-encoded values (#...) are not supported; write the value as text`);
    const bytes: number[] = [];
    let keptLength = 0;
    while (!this.atEnd() && this.peek() !== ',' && this.peek() !== '+') {
      const character = this.peekCharacter();
      if (character === '\\') {
        bytes.push(...this.readEscape());
        keptLength = bytes.length;
        continue;
      }
      if (MUST_ESCAPE.has(character)) throw this.error(`${excerpt(typeText)}: "${character}" must be escaped as "\\${character}"`);
      bytes.push(...Buffer.from(character));
      if (character !== ' ') keptLength = bytes.length;
      this.position += character.length;
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes.slice(0, keptLength)));
    } catch {
      throw this.error(`${excerpt(typeText)}: the \\hh escapes do not form valid UTF-8`);
    }
  }

  private readEscape(): number[] {
    const next = this.text.slice(this.position + 1, this.position + 3);
    if (/^[0-9A-Fa-f]{2}$/.test(next)) {
      this.position += 3;
      return [parseInt(next, 16)];
    }
    const escaped = this.text[this.position + 1];
    if (escaped === undefined || !/[\\,+"<>;= #]/.test(escaped)) {
      throw this.error(`invalid escape at position ${this.position + 1}: "\\" must be followed by one of \\ , + " < > ; = # space, or two hex digits`);
    }
    this.position += 2;
    return [...Buffer.from(escaped)];
  }

  private skipSpaces(): void {
    while (this.peek() === ' ') this.position++;
  }

  private peek(): string {
    return this.text[this.position] ?? '';
  }

  /** The whole character at the position, so a character outside the BMP is not split. */
  private peekCharacter(): string {
    const codePoint = this.text.codePointAt(this.position);
    return codePoint === undefined ? '' : String.fromCodePoint(codePoint);
  }

  private atEnd(): boolean {
    return this.position >= this.text.length;
  }

  error(detail: string): DistinguishedNameError {
    return new DistinguishedNameError(detail);
  }
}

function checkValue(type: string, typeText: string, value: string, reader: DnReader): void {
  if (type === OID.country) {
    if (!/^[A-Z]{2}$/.test(value)) throw reader.error(`"${typeText}": ${excerpt(value)} is not a two-letter country code such as DE`);
    return;
  }
  const shown = excerpt(value);
  if (EMAIL_TYPES.has(type)) {
    if (!isEmailAddress(lowerCaseDomain(value))) throw reader.error(`"${typeText}": ${shown} is not a valid email address (local@domain, ASCII)`);
    return;
  }
  const valid = type === OID.commonName ? isCommonName(value) : isSubjectValue(value, MAX_VALUE_LENGTH);
  if (!valid) {
    const limit = type === OID.commonName ? MAX_COMMON_NAME_LENGTH : MAX_VALUE_LENGTH;
    throw reader.error(`"${typeText}": ${shown} must be 1 to ${limit} characters without control characters`);
  }
  if (type === OID.domainComponent && !/^[A-Za-z0-9-]+$/.test(value)) {
    throw reader.error(`"${typeText}": ${shown} is not a domain label`);
  }
}
