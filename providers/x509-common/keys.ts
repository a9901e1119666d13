/**
 * Key pairs for pods, generated on the node with node:crypto (RSA generation
 * runs on libuv's thread pool, so it does not block the event loop), and the
 * per-volume memory that `reuse-private-key` needs.
 */
import { generateKeyPair as generateNodeKeyPair, type KeyObject } from 'node:crypto';
import type { KeyEncoding, KeySpec } from './key-spec.js';

export interface NodeKeyPair {
  readonly spec: KeySpec;
  readonly publicKey: KeyObject;
  /** Never logged, never written anywhere but the pod's volume. */
  readonly privateKey: KeyObject;
  /** SubjectPublicKeyInfo, DER: what the certificate certifies. */
  readonly publicKeyDer: Buffer;
}

export async function generateKeyPair(spec: KeySpec): Promise<NodeKeyPair> {
  const { publicKey, privateKey } = await generateKeyObjects(spec);
  return { spec, publicKey, privateKey, publicKeyDer: publicKey.export({ format: 'der', type: 'spki' }) };
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
        generateNodeKeyPair('ec', { namedCurve: spec.curve }, done);
        break;
      case 'RSA':
        generateNodeKeyPair('rsa', { modulusLength: spec.modulusLength }, done);
        break;
      case 'Ed25519':
        generateNodeKeyPair('ed25519', {}, done);
        break;
    }
  });
}

/** PKCS#8 "PRIVATE KEY", or PKCS#1 "RSA PRIVATE KEY" (attributes allow PKCS1 only for RSA). */
export function encodePrivateKeyPem(privateKey: KeyObject, encoding: KeyEncoding): Buffer {
  const pem = privateKey.export({ format: 'pem', type: encoding === 'PKCS1' ? 'pkcs1' : 'pkcs8' });
  return typeof pem === 'string' ? Buffer.from(pem) : pem;
}

function sameSpec(a: KeySpec, b: KeySpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The key of each volume that asked for `reuse-private-key`, in memory only:
 * it is never written outside the pod's volume, so a restarted driver
 * generates a new key at the next issuance.
 */
export class KeyStore {
  private readonly keys = new Map<string, NodeKeyPair>();

  /** The volume's remembered key when `reuse` is set (and its spec still fits), else a new one. */
  async keyFor(volumeId: string, spec: KeySpec, reuse: boolean): Promise<NodeKeyPair> {
    const remembered = this.keys.get(volumeId);
    if (reuse && remembered !== undefined && sameSpec(remembered.spec, spec)) return remembered;
    const keyPair = await generateKeyPair(spec);
    if (reuse) this.keys.set(volumeId, keyPair);
    else this.keys.delete(volumeId);
    return keyPair;
  }

  forget(volumeId: string): void {
    this.keys.delete(volumeId);
  }

  /** How many keys are remembered (for tests and metrics; never the keys themselves). */
  get size(): number {
    return this.keys.size;
  }
}
