/**
 * The PKCS#12 key derivation function (RFC 7292 appendix B.2). It derives
 * the PFX MAC key (in modern and legacy files alike) and the key and IV of
 * the legacy PBE schemes. Node has no binding for it, so it is written here.
 */
import { createHash } from 'node:crypto';

/** What the derived bytes are for (the "ID" byte of B.2). */
export const KDF_PURPOSE = { key: 1, iv: 2, mac: 3 } as const;

export type KdfHash = 'sha1' | 'sha256';

const HASH_OUTPUT_BYTES: Readonly<Record<KdfHash, number>> = { sha1: 20, sha256: 32 };
/** Both hashes work on 64-byte blocks. */
const BLOCK_BYTES = 64;

/** The password as a NUL-terminated big-endian BMPString, which the KDF takes (B.1). */
export function bmpPassword(password: string): Buffer {
  const utf16be = Buffer.from(password, 'utf16le').swap16();
  return Buffer.concat([utf16be, Buffer.alloc(2)]);
}

export function pkcs12Kdf(
  hash: KdfHash,
  password: Buffer,
  salt: Buffer,
  purpose: number,
  iterations: number,
  length: number,
): Buffer {
  const u = HASH_OUTPUT_BYTES[hash];
  const v = BLOCK_BYTES;
  const diversifier = Buffer.alloc(v, purpose);
  const input = Buffer.concat([repeatToBlocks(salt, v), repeatToBlocks(password, v)]);
  const output: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let block = createHash(hash).update(diversifier).update(input).digest();
    for (let round = 1; round < iterations; round++) block = createHash(hash).update(block).digest();
    output.push(block);
    const b = repeatToBlocks(block, v).subarray(0, v);
    // Each v-byte block of the input becomes (block + b + 1) mod 2^(8v).
    for (let offset = 0; offset < input.length; offset += v) addBlock(input, offset, b, v);
  }
  return Buffer.concat(output).subarray(0, length);
}

/** The value repeated to fill a whole number of v-byte blocks (empty stays empty). */
function repeatToBlocks(value: Buffer, v: number): Buffer {
  if (value.length === 0) return Buffer.alloc(0);
  const length = v * Math.ceil(value.length / v);
  const result = Buffer.alloc(length);
  for (let index = 0; index < length; index++) result[index] = value[index % value.length] ?? 0;
  return result;
}

function addBlock(target: Buffer, offset: number, addend: Buffer, v: number): void {
  let carry = 1;
  for (let index = v - 1; index >= 0; index--) {
    const sum = (target[offset + index] ?? 0) + (addend[index] ?? 0) + carry;
    target[offset + index] = sum & 0xff;
    carry = sum >> 8;
  }
}
