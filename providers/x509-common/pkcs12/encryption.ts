/**
 * Password-based encryption of PKCS#12 contents, and the PFX MAC.
 *
 * - modern: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, MAC HMAC-SHA256,
 *   what OpenSSL 3 writes by default and Java reads since 8u301.
 * - legacy: pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificates, MAC
 *   HMAC-SHA1, for older readers. (OpenSSL 1.x wrote 40-bit RC2 for the
 *   certificates; node's OpenSSL 3 has no RC2 without its legacy provider,
 *   and 3DES is what every PKCS#12 reader accepts anyway.)
 */
import { createCipheriv, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { OctetString } from '@peculiar/asn1-schema';
import type { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { OIDS, Pbes2Params, Pbkdf2Params, Pkcs12PbeParams, algorithm } from './asn1.js';
import { KDF_PURPOSE, bmpPassword, pkcs12Kdf, type KdfHash } from './kdf.js';

const derive = promisify(pbkdf2);

export type Pkcs12Profile = 'modern' | 'legacy';

/**
 * Iterations for PBKDF2, the PKCS#12 KDF and the MAC: OpenSSL 3's default.
 * The PKCS#12 KDF runs in JavaScript on the event loop, and a brute-force
 * attack takes the cheapest of the three, so one count serves them all.
 */
export const PKCS12_ITERATIONS = 2048;

export interface Encrypted {
  readonly algorithm: AlgorithmIdentifier;
  readonly ciphertext: Buffer;
}

export interface Mac {
  readonly digestAlgorithm: AlgorithmIdentifier;
  readonly digest: Buffer;
  readonly salt: Buffer;
  readonly iterations: number;
}

export async function encrypt(profile: Pkcs12Profile, password: string, plaintext: Buffer): Promise<Encrypted> {
  return profile === 'modern' ? encryptPbes2(password, plaintext) : encryptTripleDes(password, plaintext);
}

async function encryptPbes2(password: string, plaintext: Buffer): Promise<Encrypted> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  // PBES2 takes the password's bytes as they are (UTF-8), unlike the PKCS#12 KDF.
  const key = await derive(Buffer.from(password, 'utf8'), salt, PKCS12_ITERATIONS, 32, 'sha256');
  const ciphertext = encryptCbc('aes-256-cbc', key, iv, plaintext);
  const kdf = new Pbkdf2Params();
  kdf.salt = new OctetString(salt);
  kdf.iterationCount = PKCS12_ITERATIONS;
  kdf.prf = algorithm(OIDS.hmacWithSha256, null);
  const params = new Pbes2Params();
  params.keyDerivationFunc = algorithm(OIDS.pbkdf2, kdf);
  params.encryptionScheme = algorithm(OIDS.aes256Cbc, new OctetString(iv));
  return { algorithm: algorithm(OIDS.pbes2, params), ciphertext };
}

function encryptTripleDes(password: string, plaintext: Buffer): Promise<Encrypted> {
  const salt = randomBytes(8);
  const secret = bmpPassword(password);
  const key = pkcs12Kdf('sha1', secret, salt, KDF_PURPOSE.key, PKCS12_ITERATIONS, 24);
  const iv = pkcs12Kdf('sha1', secret, salt, KDF_PURPOSE.iv, PKCS12_ITERATIONS, 8);
  const params = new Pkcs12PbeParams();
  params.salt = new OctetString(salt);
  params.iterations = PKCS12_ITERATIONS;
  const ciphertext = encryptCbc('des-ede3-cbc', key, iv, plaintext);
  return Promise.resolve({ algorithm: algorithm(OIDS.pbeWithShaAnd3KeyTripleDesCbc, params), ciphertext });
}

function encryptCbc(cipher: string, key: Buffer, iv: Buffer, plaintext: Buffer): Buffer {
  const encryptor = createCipheriv(cipher, key, iv);
  return Buffer.concat([encryptor.update(plaintext), encryptor.final()]);
}

/** The PFX MAC over the authenticated safe, keyed by the PKCS#12 KDF (RFC 7292 appendix B). */
export function pfxMac(profile: Pkcs12Profile, password: string, authenticatedSafe: Buffer): Mac {
  const hash: KdfHash = profile === 'modern' ? 'sha256' : 'sha1';
  const salt = randomBytes(profile === 'modern' ? 16 : 8);
  const key = pkcs12Kdf(hash, bmpPassword(password), salt, KDF_PURPOSE.mac, PKCS12_ITERATIONS, hash === 'sha256' ? 32 : 20);
  return {
    digestAlgorithm: algorithm(hash === 'sha256' ? OIDS.sha256 : OIDS.sha1, null),
    digest: createHmac(hash, key).update(authenticatedSafe).digest(),
    salt,
    iterations: PKCS12_ITERATIONS,
  };
}
