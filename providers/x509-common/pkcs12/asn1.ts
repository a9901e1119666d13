/**
 * The ASN.1 structures PKCS#12 needs that @peculiar's schema packages do not
 * ship: PBES2 and PBKDF2 parameters (RFC 8018), the PKCS#12 PBE parameters
 * (RFC 7292 appendix C) and CMS EncryptedData (RFC 5652 section 8). The
 * project compiles without decorator support, so the schema decorators are
 * applied as plain calls.
 */
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { EncryptedContentInfo } from '@peculiar/asn1-cms';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

export const OIDS = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha1: '1.3.14.3.2.26',
  pbeWithShaAnd3KeyTripleDesCbc: '1.2.840.113549.1.12.1.3',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

type PropOptions = Parameters<typeof AsnProp>[0];

function sequence(target: new () => object, fields: Readonly<Record<string, PropOptions>>): void {
  AsnType({ type: AsnTypeTypes.Sequence })(target);
  for (const [field, options] of Object.entries(fields)) AsnProp(options)(target.prototype as object, field);
}

/** PBKDF2-params with a specified salt; the PRF is always written out (never the HMAC-SHA1 default). */
export class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  keyLength?: number;
  prf = new AlgorithmIdentifier();
}
sequence(Pbkdf2Params, {
  salt: { type: OctetString },
  iterationCount: { type: AsnPropTypes.Integer },
  keyLength: { type: AsnPropTypes.Integer, optional: true },
  prf: { type: AlgorithmIdentifier },
});

export class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
}
sequence(Pbes2Params, {
  keyDerivationFunc: { type: AlgorithmIdentifier },
  encryptionScheme: { type: AlgorithmIdentifier },
});

/** pkcs-12PbeParams: the salt and iteration count of the legacy PKCS#12 PBE schemes. */
export class Pkcs12PbeParams {
  salt = new OctetString();
  iterations = 0;
}
sequence(Pkcs12PbeParams, {
  salt: { type: OctetString },
  iterations: { type: AsnPropTypes.Integer },
});

/** CMS EncryptedData, version 0 (no unprotected attributes). */
export class CmsEncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();
}
sequence(CmsEncryptedData, {
  version: { type: AsnPropTypes.Integer },
  encryptedContentInfo: { type: EncryptedContentInfo },
});

/** DER of any schema value, as a Buffer (for hashing and encryption). */
export function der(value: object): Buffer {
  return Buffer.from(AsnConvert.serialize(value));
}

/** DER of any schema value, as the ArrayBuffer that `Any` fields hold. */
export function serialize(value: object): ArrayBuffer {
  return AsnConvert.serialize(value);
}

/** An AlgorithmIdentifier whose parameters are a schema value, or NULL. */
export function algorithm(oid: string, parameters: object | null): AlgorithmIdentifier {
  const identifier = new AlgorithmIdentifier({ algorithm: oid });
  identifier.parameters = parameters === null ? NULL_DER : AsnConvert.serialize(parameters);
  return identifier;
}

const NULL_DER = new Uint8Array([0x05, 0x00]).buffer;
