/**
 * A PKCS#12 keystore (RFC 7292) holding the pod's key and its certificates,
 * laid out as OpenSSL 3 writes one: an encrypted safe with the certificates,
 * then a plain safe with the shrouded key; the leaf and the key share a
 * localKeyId and a friendlyName (the alias Java's KeyStore shows).
 */
import { createHash, type KeyObject } from 'node:crypto';
import {
  ContentEncryptionAlgorithmIdentifier,
  ContentInfo,
  EncryptedContent,
  EncryptedContentInfo,
  id_data,
  id_encryptedData,
} from '@peculiar/asn1-cms';
import {
  AuthenticatedSafe,
  CertBag,
  MacData,
  PFX,
  PKCS12Attribute,
  PKCS8ShroudedKeyBag,
  SafeBag,
  SafeContents,
  id_certBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
} from '@peculiar/asn1-pfx';
import { EncryptedData } from '@peculiar/asn1-pkcs8';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { OctetString } from '@peculiar/asn1-schema';
import { CmsEncryptedData, OIDS, der, serialize } from './asn1.js';
import { encrypt, pfxMac, type Pkcs12Profile } from './encryption.js';

export interface KeystoreContents {
  readonly privateKey: KeyObject;
  /** DER certificates, the key's own certificate first. */
  readonly certificates: readonly Buffer[];
  /** The alias of the key entry. */
  readonly friendlyName: string;
}

export async function encodePkcs12(contents: KeystoreContents, password: string, profile: Pkcs12Profile): Promise<Buffer> {
  const [leaf] = contents.certificates;
  if (leaf === undefined) throw new Error('a PKCS#12 keystore needs the key\'s certificate');
  const attributes = [
    attribute(OIDS.localKeyId, serialize(new OctetString(createHash('sha1').update(leaf).digest()))),
    attribute(OIDS.friendlyName, bmpString(contents.friendlyName)),
  ];
  const certificateBags = contents.certificates.map((certificate, index) => certificateBag(certificate, index === 0 ? attributes : undefined));
  const keyBag = await shroudedKeyBag(contents.privateKey, password, profile, attributes);
  const authenticatedSafe = der(
    new AuthenticatedSafe([
      await encryptedSafe(new SafeContents(certificateBags), password, profile),
      new ContentInfo({ contentType: id_data, content: serialize(new OctetString(der(new SafeContents([keyBag])))) }),
    ]),
  );
  const mac = pfxMac(profile, password, authenticatedSafe);
  const pfx = new PFX({
    version: 3,
    authSafe: new ContentInfo({ contentType: id_data, content: serialize(new OctetString(authenticatedSafe)) }),
    macData: new MacData({
      mac: new DigestInfo({ digestAlgorithm: mac.digestAlgorithm, digest: new OctetString(mac.digest) }),
      macSalt: new OctetString(mac.salt),
      iterations: mac.iterations,
    }),
  });
  return der(pfx);
}

function certificateBag(certificate: Buffer, attributes: PKCS12Attribute[] | undefined): SafeBag {
  const bag = new CertBag({ certId: id_x509Certificate, certValue: serialize(new OctetString(certificate)) });
  return new SafeBag({ bagId: id_certBag, bagValue: serialize(bag), ...(attributes === undefined ? {} : { bagAttributes: attributes }) });
}

async function shroudedKeyBag(
  privateKey: KeyObject,
  password: string,
  profile: Pkcs12Profile,
  attributes: PKCS12Attribute[],
): Promise<SafeBag> {
  const { algorithm, ciphertext } = await encrypt(profile, password, privateKey.export({ format: 'der', type: 'pkcs8' }));
  const bag = new PKCS8ShroudedKeyBag({ encryptionAlgorithm: algorithm, encryptedData: new EncryptedData(ciphertext) });
  return new SafeBag({ bagId: id_pkcs8ShroudedKeyBag, bagValue: serialize(bag), bagAttributes: attributes });
}

async function encryptedSafe(contents: SafeContents, password: string, profile: Pkcs12Profile): Promise<ContentInfo> {
  const { algorithm, ciphertext } = await encrypt(profile, password, der(contents));
  const encrypted = new CmsEncryptedData();
  encrypted.encryptedContentInfo = new EncryptedContentInfo({
    contentType: id_data,
    contentEncryptionAlgorithm: new ContentEncryptionAlgorithmIdentifier({ algorithm: algorithm.algorithm, parameters: algorithm.parameters }),
    encryptedContent: new EncryptedContent({ value: new OctetString(ciphertext) }),
  });
  return new ContentInfo({ contentType: id_encryptedData, content: serialize(encrypted) });
}

/** PKCS12Attribute's constructor ignores its argument, so the fields are set one by one. */
function attribute(oid: string, value: ArrayBuffer): PKCS12Attribute {
  const result = new PKCS12Attribute();
  result.attrId = oid;
  result.attrValues = [value];
  return result;
}

/** A DER BMPString (big-endian UTF-16), which friendlyName is. */
function bmpString(text: string): ArrayBuffer {
  const content = Buffer.from(text, 'utf16le').swap16();
  if (content.length > 127) throw new Error('friendlyName too long');
  return serializeBytes(Buffer.concat([Buffer.from([0x1e, content.length]), content]));
}

function serializeBytes(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
