/**
 * Signs a pod's certificate with the instance's CA: the shared certificate
 * content (subject, usages, SANs) plus the key identifiers that link it to
 * the CA.
 */
import type { X509Certificate } from '@peculiar/x509';
import { certificateExtensions, subjectName, x509, type CertificateContent } from '../x509-common/index.js';
import { type CertificateAuthority, randomSerialNumber } from './certificate-authority.js';

export interface LeafCertificateRequest extends CertificateContent {
  /** SubjectPublicKeyInfo (DER) of the pod's key. */
  readonly publicKeyDer: Buffer;
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
    // An empty subject when the pod asked for none (the names are in subjectAltName).
    subject: subjectName(request),
    issuer: ca.certificate.subjectName,
    notBefore: request.notBefore,
    notAfter: request.notAfter,
    publicKey: request.publicKeyDer,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signatureAlgorithm,
    extensions: [
      ...certificateExtensions(request),
      await x509.SubjectKeyIdentifierExtension.create(request.publicKeyDer),
      new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier),
    ],
  });
  return { certificate, serialNumber, pem: `${certificate.toString('pem')}\n` };
}
