/**
 * The `key-algorithm`, `key-size` and `key-encoding` attributes: which key
 * pair to generate for the pod and how to encode its private key.
 */
import { excerpt, invalidArgument, type KeymountError } from '../../src/provider/contract.js';
import { CERTIFICATE_ATTRIBUTE } from './attribute-names.js';

export type EcdsaCurve = 'P-256' | 'P-384' | 'P-521';
export type RsaModulusLength = 2048 | 3072 | 4096;

export type KeySpec =
  | { readonly algorithm: 'ECDSA'; readonly curve: EcdsaCurve }
  | { readonly algorithm: 'RSA'; readonly modulusLength: RsaModulusLength }
  | { readonly algorithm: 'Ed25519' };

export type KeyAlgorithm = KeySpec['algorithm'];
export type KeyEncoding = 'PKCS8' | 'PKCS1';

const ALGORITHM_BY_LOWER_CASE_NAME: Readonly<Record<string, KeyAlgorithm>> = {
  ecdsa: 'ECDSA',
  rsa: 'RSA',
  ed25519: 'Ed25519',
};

const ECDSA_CURVE_BY_SIZE: ReadonlyMap<number, EcdsaCurve> = new Map([
  [256, 'P-256'],
  [384, 'P-384'],
  [521, 'P-521'],
]);
const RSA_MODULUS_LENGTHS: readonly RsaModulusLength[] = [2048, 3072, 4096];

const ATTRIBUTE = {
  algorithm: CERTIFICATE_ATTRIBUTE.keyAlgorithm,
  size: CERTIFICATE_ATTRIBUTE.keySize,
  encoding: CERTIFICATE_ATTRIBUTE.keyEncoding,
} as const;

export interface ParsedKeySpec {
  readonly key: KeySpec;
  readonly keyEncoding: KeyEncoding;
}

/** Parses the three key attributes (undefined = not set) into a frozen spec. */
export function parseKeySpec(
  algorithmText: string | undefined,
  sizeText: string | undefined,
  encodingText: string | undefined,
): ParsedKeySpec {
  const algorithm = parseAlgorithm(algorithmText);
  const key = Object.freeze(keySpecFor(algorithm, sizeText === undefined ? undefined : parseSize(sizeText)));
  return { key, keyEncoding: parseEncoding(encodingText, algorithm) };
}

function parseAlgorithm(text: string | undefined): KeyAlgorithm {
  if (text === undefined) return 'ECDSA';
  const algorithm = ALGORITHM_BY_LOWER_CASE_NAME[text.trim().toLowerCase()];
  if (algorithm === undefined) {
    throw invalidArgument(`attribute "${ATTRIBUTE.algorithm}": ${excerpt(text)} is not one of ECDSA, RSA, Ed25519`);
  }
  return algorithm;
}

function parseSize(text: string): number {
  const trimmed = text.trim();
  if (!/^\d{1,5}$/.test(trimmed)) throw invalidArgument(`attribute "${ATTRIBUTE.size}": ${excerpt(text)} is not a number of bits`);
  return Number(trimmed);
}

function keySpecFor(algorithm: KeyAlgorithm, size: number | undefined): KeySpec {
  switch (algorithm) {
    case 'ECDSA': {
      const bits = size ?? 256;
      const curve = ECDSA_CURVE_BY_SIZE.get(bits);
      if (curve === undefined) throw unsupportedSize(algorithm, bits, [...ECDSA_CURVE_BY_SIZE.keys()]);
      return { algorithm, curve };
    }
    case 'RSA': {
      const bits = size ?? 2048;
      const modulusLength = RSA_MODULUS_LENGTHS.find((length) => length === bits);
      if (modulusLength === undefined) throw unsupportedSize(algorithm, bits, RSA_MODULUS_LENGTHS);
      return { algorithm, modulusLength };
    }
    case 'Ed25519':
      if (size !== undefined) {
        throw invalidArgument(`attribute "${ATTRIBUTE.size}": Ed25519 keys have a fixed size; remove "${ATTRIBUTE.size}"`);
      }
      return { algorithm };
  }
}

function unsupportedSize(algorithm: KeyAlgorithm, bits: number, allowed: readonly number[]): KeymountError {
  return invalidArgument(`attribute "${ATTRIBUTE.size}": ${algorithm} keys cannot be ${bits} bits (allowed: ${allowed.join(', ')})`);
}

function parseEncoding(text: string | undefined, algorithm: KeyAlgorithm): KeyEncoding {
  const encoding = text?.trim().toUpperCase() ?? 'PKCS8';
  if (encoding !== 'PKCS8' && encoding !== 'PKCS1') {
    throw invalidArgument(`attribute "${ATTRIBUTE.encoding}": ${excerpt(text ?? '')} is not one of PKCS8, PKCS1`);
  }
  if (encoding === 'PKCS1' && algorithm !== 'RSA') {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.encoding}": PKCS1 can only encode RSA keys, not ${algorithm}; use PKCS8 or "key-algorithm: RSA"`,
    );
  }
  return encoding;
}
