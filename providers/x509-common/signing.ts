/**
 * Signing with node KeyObjects through WebCrypto, which @peculiar/x509 uses:
 * the signature algorithm that fits a key (the hash matching an EC curve's
 * strength), and the key imported for signing.
 */
import { webcrypto, type KeyObject } from 'node:crypto';

/** A WebCrypto algorithm as @peculiar/x509 and node's subtle crypto take it. */
export interface SignatureAlgorithm {
  readonly name: string;
  readonly hash?: string;
}

export interface SigningParameters {
  readonly importAlgorithm: webcrypto.AlgorithmIdentifier | webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  readonly signatureAlgorithm: SignatureAlgorithm;
}

/** Node's EC curve names → the WebCrypto curve and the hash that matches its strength. */
const EC_CURVES: Readonly<Record<string, { readonly namedCurve: string; readonly hash: string }>> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

/** RSA (PKCS#1 v1.5, SHA-256), ECDSA on P-256/P-384/P-521, or Ed25519; undefined for any other key. */
export function signingParametersFor(key: KeyObject): SigningParameters | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return {
        importAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        signatureAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      };
    case 'ec': {
      const curve = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (curve === undefined) return undefined;
      return {
        importAlgorithm: { name: 'ECDSA', namedCurve: curve.namedCurve },
        signatureAlgorithm: { name: 'ECDSA', hash: curve.hash },
      };
    }
    case 'ed25519':
      return { importAlgorithm: { name: 'Ed25519' }, signatureAlgorithm: { name: 'Ed25519' } };
    default:
      return undefined;
  }
}

/** The private key as a non-extractable WebCrypto signing key. */
export async function importSigningKey(privateKey: KeyObject, parameters: SigningParameters): Promise<webcrypto.CryptoKey> {
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, parameters.importAlgorithm, false, ['sign']);
}
