/**
 * cert-manager's key usage names, mapped to X.509 KeyUsage bits and
 * ExtendedKeyUsage purposes (OIDs).
 */
import type { KeyUsageFlags } from '@peculiar/x509';
import { x509 } from './x509.js';

const { KeyUsageFlags: Bit, ExtendedKeyUsage: Purpose } = x509;

type UsageEffect = { readonly bit: KeyUsageFlags } | { readonly purpose: string };

const USAGES = {
  signing: { bit: Bit.digitalSignature },
  'digital signature': { bit: Bit.digitalSignature },
  'content commitment': { bit: Bit.nonRepudiation },
  'key encipherment': { bit: Bit.keyEncipherment },
  'key agreement': { bit: Bit.keyAgreement },
  'data encipherment': { bit: Bit.dataEncipherment },
  'cert sign': { bit: Bit.keyCertSign },
  'crl sign': { bit: Bit.cRLSign },
  'encipher only': { bit: Bit.encipherOnly },
  'decipher only': { bit: Bit.decipherOnly },
  'server auth': { purpose: Purpose.serverAuth },
  'client auth': { purpose: Purpose.clientAuth },
  'code signing': { purpose: Purpose.codeSigning },
  'email protection': { purpose: Purpose.emailProtection },
  timestamping: { purpose: Purpose.timeStamping },
  'ocsp signing': { purpose: Purpose.ocspSigning },
} as const satisfies Record<string, UsageEffect>;

export type KeyUsageName = keyof typeof USAGES;

export const KEY_USAGE_NAMES = Object.keys(USAGES) as readonly KeyUsageName[];

export const DEFAULT_KEY_USAGES: readonly KeyUsageName[] = [
  'digital signature',
  'key encipherment',
  'server auth',
  'client auth',
];

export function isKeyUsageName(name: string): name is KeyUsageName {
  return Object.hasOwn(USAGES, name);
}

/** The KeyUsage bits for the given names (0 when none of them is a KeyUsage bit). */
export function keyUsageBits(usages: readonly KeyUsageName[]): number {
  let bits = 0;
  for (const usage of usages) {
    const effect: UsageEffect = USAGES[usage];
    if ('bit' in effect) bits |= effect.bit;
  }
  return bits;
}

/** The ExtendedKeyUsage OIDs for the given names, in request order. */
export function extendedKeyUsageOids(usages: readonly KeyUsageName[]): string[] {
  const oids: string[] = [];
  for (const usage of usages) {
    const effect: UsageEffect = USAGES[usage];
    if ('purpose' in effect) oids.push(effect.purpose);
  }
  return oids;
}
