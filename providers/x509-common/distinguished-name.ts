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
import { MAX_COMMON_NAME_LENGTH, isCommonName, isSubjectValue } from './names.js';
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
} as const;

/** The attribute type names RFC 4514 section 3 lists, plus serialNumber and postalCode (upper-cased). */
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
};

const KNOWN_TYPES = 'CN, C, L, ST, STREET, O, OU, serialNumber, postalCode, DC, UID or a dotted OID';
const MAX_VALUE_LENGTH = 128;

/** A malformed subject string; callers turn it into their own error kind. */
export class DistinguishedNameError extends Error {
  override readonly name = 'DistinguishedNameError';
}

/** Parses an RFC 4514 string; spaces around `,`, `+` and `=` are tolerated. */
export function parseDistinguishedName(text: string): DistinguishedName {
  const rdns = new DnReader(text).readName();
  return Object.freeze(rdns.reverse().map((rdn) => Object.freeze(rdn)));
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
  if (type === OID.domainComponent) return { ia5String: value };
  return PRINTABLE.test(value) ? { printableString: value } : { utf8String: value };
}

// --- the reader ----------------------------------------------------------------

/** Characters RFC 4514 wants escaped inside a value. */
const MUST_ESCAPE = new Set(['"', ';', '<', '>', '\\']);
const NUMERIC_OID = /^\d+(?:\.\d+)+$/;
const DESCRIPTOR = /^[A-Za-z][A-Za-z0-9-]*$/;

class DnReader {
  private position = 0;

  constructor(private readonly text: string) {}

  readName(): NameAttribute[][] {
    this.skipSpaces();
    if (this.atEnd()) throw new DistinguishedNameError('is empty');
    const rdns: NameAttribute[][] = [];
    for (;;) {
      const rdn = [this.readAttribute()];
      while (this.peek() === '+') {
        this.position++;
        rdn.push(this.readAttribute());
      }
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
      throw this.error(typeText === '' ? `expected an attribute type at position ${start + 1}` : `expected "=" after "${typeText}"`);
    }
    this.position++;
    const type = resolveType(typeText, this);
    this.skipSpaces();
    const value = this.readValue(typeText);
    checkValue(type, typeText, value, this);
    return { type, value };
  }

  /** Up to the next unescaped `,` or `+`; `\X` and `\hh` escapes; unescaped trailing spaces dropped. */
  private readValue(typeText: string): string {
    if (this.peek() === '#') throw this.error(`"${typeText}": hex-encoded values (#...) are not supported; write the value as text`);
    const bytes: number[] = [];
    let keptLength = 0;
    while (!this.atEnd() && this.peek() !== ',' && this.peek() !== '+') {
      const character = this.peekCharacter();
      if (character === '\\') {
        bytes.push(...this.readEscape());
        keptLength = bytes.length;
        continue;
      }
      if (MUST_ESCAPE.has(character)) throw this.error(`"${typeText}": "${character}" must be escaped as "\\${character}"`);
      bytes.push(...Buffer.from(character));
      if (character !== ' ') keptLength = bytes.length;
      this.position += character.length;
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes.slice(0, keptLength)));
    } catch {
      throw this.error(`"${typeText}": the \\hh escapes do not form valid UTF-8`);
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

function resolveType(typeText: string, reader: DnReader): string {
  if (NUMERIC_OID.test(typeText)) return typeText;
  const oid = DESCRIPTOR.test(typeText) ? TYPE_OIDS[typeText.toUpperCase()] : undefined;
  if (oid === undefined) throw reader.error(`unknown attribute type "${typeText}" (known: ${KNOWN_TYPES})`);
  return oid;
}

function checkValue(type: string, typeText: string, value: string, reader: DnReader): void {
  if (type === OID.country) {
    if (!/^[A-Z]{2}$/.test(value)) throw reader.error(`"${typeText}": "${value}" is not a two-letter country code such as DE`);
    return;
  }
  const valid = type === OID.commonName ? isCommonName(value) : isSubjectValue(value, MAX_VALUE_LENGTH);
  if (!valid) {
    const limit = type === OID.commonName ? MAX_COMMON_NAME_LENGTH : MAX_VALUE_LENGTH;
    throw reader.error(`"${typeText}": "${value}" must be 1 to ${limit} characters without control characters`);
  }
  if (type === OID.domainComponent && !/^[A-Za-z0-9-]+$/.test(value)) {
    throw reader.error(`"${typeText}": "${value}" is not a domain label`);
  }
}
