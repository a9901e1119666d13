/**
 * Key pairs for pods, generated on the node with node:crypto (RSA generation
 * runs on libuv's thread pool, so it does not block the event loop).
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import type { KeyEncoding, KeySpec } from './key-spec.js';

export interface LeafKeyPair {
  /** SubjectPublicKeyInfo, DER: what the certificate certifies. */
  readonly publicKeyDer: Buffer;
  /** The PEM file handed to the pod; never logged. */
  readonly privateKeyPem: Buffer;
}

export async function generateLeafKeyPair(spec: KeySpec, encoding: KeyEncoding): Promise<LeafKeyPair> {
  const { publicKey, privateKey } = await generateKeyObjects(spec);
  return {
    publicKeyDer: publicKey.export({ format: 'der', type: 'spki' }),
    privateKeyPem: encodePrivateKey(privateKey, encoding),
  };
}

interface KeyObjectPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

function generateKeyObjects(spec: KeySpec): Promise<KeyObjectPair> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKey: KeyObject, privateKey: KeyObject): void => {
      if (error) reject(error);
      else resolve({ publicKey, privateKey });
    };
    switch (spec.algorithm) {
      case 'ECDSA':
        generateKeyPair('ec', { namedCurve: spec.curve }, done);
        break;
      case 'RSA':
        generateKeyPair('rsa', { modulusLength: spec.modulusLength }, done);
        break;
      case 'Ed25519':
        generateKeyPair('ed25519', {}, done);
        break;
    }
  });
}

/** PKCS#8 "PRIVATE KEY", or PKCS#1 "RSA PRIVATE KEY" (attributes allow PKCS1 only for RSA). */
function encodePrivateKey(privateKey: KeyObject, encoding: KeyEncoding): Buffer {
  const pem = privateKey.export({ format: 'pem', type: encoding === 'PKCS1' ? 'pkcs1' : 'pkcs8' });
  return typeof pem === 'string' ? Buffer.from(pem) : pem;
}
