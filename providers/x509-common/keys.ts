/**
 * Key pairs for pods, generated on the node with node:crypto (on libuv's
 * thread pool, so it does not block the event loop; the volumes' keys take
 * turns through the bounded, fair queues of work-pool.ts so that one tenant
 * cannot fill that pool), and the per-volume memory that `reuse-private-key`
 * needs.
 */
import { generateKeyPair as generateNodeKeyPair, type KeyObject } from 'node:crypto';
import type { KeyEncoding, KeySpec } from './key-spec.js';
import { certificateWork, type WorkContext } from './work-pool.js';

export interface NodeKeyPair {
  readonly spec: KeySpec;
  readonly publicKey: KeyObject;
  /** Never logged, never written anywhere but the pod's volume. */
  readonly privateKey: KeyObject;
  /** SubjectPublicKeyInfo, DER: what the certificate certifies. */
  readonly publicKeyDer: Buffer;
}

/** A key pair generated at once, outside any queue (for tests and tools; volumes use KeyStore). */
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

/** Work nobody named a tenant for (tests, tools) shares one turn. */
const UNATTRIBUTED: WorkContext = { tenant: '' };

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

  /**
   * The volume's remembered key when `reuse` is set (and its spec still fits),
   * else a new one, generated when the tenant's turn comes.
   */
  async keyFor(volumeId: string, spec: KeySpec, reuse: boolean, work: WorkContext = UNATTRIBUTED): Promise<NodeKeyPair> {
    const remembered = this.keys.get(volumeId);
    if (reuse && remembered !== undefined && sameSpec(remembered.spec, spec)) return remembered;
    // RSA costs a core for up to seconds; EC and Ed25519 keys take a millisecond and do not wait behind it.
    const queue = spec.algorithm === 'RSA' ? certificateWork.keyGeneration : certificateWork.signing;
    const keyPair = await queue.run(work, () => generateKeyPair(spec));
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
