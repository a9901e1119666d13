/**
 * Signs a pod's certificate with the instance's CA.
 */
import type { Extension, JsonGeneralName, X509Certificate } from '@peculiar/x509';
import { type CertificateAuthority, randomSerialNumber } from './certificate-authority.js';
import { extendedKeyUsageOids, keyUsageBits, type KeyUsageName } from './key-usages.js';
import type { RequestedNames } from './policy.js';
import { x509 } from './x509.js';

export interface LeafCertificateRequest extends RequestedNames {
  /** SubjectPublicKeyInfo (DER) of the pod's new key. */
  readonly publicKeyDer: Buffer;
  readonly isCA: boolean;
  readonly keyUsages: readonly KeyUsageName[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IssuedCertificate {
  readonly certificate: X509Certificate;
  /** Upper-case hex, as openssl and node print it. */
  readonly serialNumber: string;
  readonly pem: string;
}

export async function issueLeafCertificate(ca: CertificateAuthority, request: LeafCertificateRequest): Promise<IssuedCertificate> {
  const serialNumber = randomSerialNumber();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber,
    // No common name: an empty subject (the names are in subjectAltName).
    ...(request.commonName === undefined ? {} : { subject: [{ CN: [request.commonName] }] }),
    issuer: ca.certificate.subjectName,
    notBefore: request.notBefore,
    notAfter: request.notAfter,
    publicKey: request.publicKeyDer,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signatureAlgorithm,
    extensions: await leafExtensions(ca, request),
  });
  return { certificate, serialNumber, pem: `${certificate.toString('pem')}\n` };
}

async function leafExtensions(ca: CertificateAuthority, request: LeafCertificateRequest): Promise<Extension[]> {
  const extensions: Extension[] = [new x509.BasicConstraintsExtension(request.isCA, undefined, true)];
  // A CA certificate is useless without keyCertSign, so it is added rather than demanded.
  const usages: readonly KeyUsageName[] = request.isCA ? [...request.keyUsages, 'cert sign'] : request.keyUsages;
  const usageBits = keyUsageBits(usages);
  // RFC 5280 forbids an empty KeyUsage; when only extended usages are asked for, leave it out.
  if (usageBits !== 0) {
    // KeyUsageFlags is a bit-flag enum, so an OR of its members is a valid value.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
    extensions.push(new x509.KeyUsagesExtension(usageBits, true));
  }
  const purposes = extendedKeyUsageOids(request.keyUsages);
  if (purposes.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(purposes, false));
  const alternativeNames = subjectAlternativeNames(request);
  if (alternativeNames.length > 0) {
    // RFC 5280 4.2.1.6: with an empty subject, subjectAltName must be critical.
    extensions.push(new x509.SubjectAlternativeNameExtension(alternativeNames, request.commonName === undefined));
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(request.publicKeyDer));
  extensions.push(new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier));
  return extensions;
}

function subjectAlternativeNames(names: RequestedNames): JsonGeneralName[] {
  return [
    ...names.dnsNames.map((value): JsonGeneralName => ({ type: 'dns', value })),
    ...names.ipAddresses.map((value): JsonGeneralName => ({ type: 'ip', value })),
    ...names.uris.map((value): JsonGeneralName => ({ type: 'url', value })),
  ];
}
