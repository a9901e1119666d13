/**
 * PKCS#10 certificate requests, signed by the key generated on the node: what
 * a provider sends to a remote CA (vault-pki) instead of a key.
 */
import { webcrypto } from 'node:crypto';
import type { Pkcs10CertificateRequest } from '@peculiar/x509';
import { certificateExtensions, subjectName, type CertificateContent } from './extensions.js';
import type { NodeKeyPair } from './keys.js';
import { importSigningKey, signingParametersFor } from './signing.js';
import { x509 } from './x509.js';

export interface CertificateSigningRequest {
  readonly request: Pkcs10CertificateRequest;
  /** "-----BEGIN CERTIFICATE REQUEST-----" PEM with a trailing newline. */
  readonly pem: string;
  readonly der: Buffer;
}

/** A CSR for the attributes' subject, SANs, usages and CA flag (as requested extensions). */
export async function createCsr(content: CertificateContent, keyPair: NodeKeyPair): Promise<CertificateSigningRequest> {
  const parameters = signingParametersFor(keyPair.privateKey);
  // Every KeySpec the attributes allow has parameters; this guards against a key made elsewhere.
  if (parameters === undefined) throw new Error(`cannot sign a CSR with a ${keyPair.privateKey.asymmetricKeyType ?? 'unknown'} key`);
  const privateKey = await importSigningKey(keyPair.privateKey, parameters);
  const publicKey = await webcrypto.subtle.importKey('spki', keyPair.publicKeyDer, parameters.importAlgorithm, true, ['verify']);
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(content),
    keys: { privateKey, publicKey },
    signingAlgorithm: parameters.signatureAlgorithm,
    extensions: certificateExtensions(content),
  });
  return { request, pem: `${request.toString('pem')}\n`, der: Buffer.from(request.rawData) };
}
