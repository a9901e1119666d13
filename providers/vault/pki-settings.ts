/**
 * The admin's settings for one `vault-pki` instance: the same connection and
 * auth settings as a `vault` instance, plus which PKI mount and role sign the
 * pods' certificates. Pods choose neither: a pod can only pick the instance.
 */
import { z } from 'zod';
import { parseDuration } from '../../src/provider/contract.js';
import { DEFAULT_MAX_ISSUANCES_PER_MINUTE, MAX_ISSUANCES_PER_MINUTE_RANGE } from '../x509-common/index.js';
import { MOUNT_PATH, checkAllowList, checkConnection, describeSettingsIssues, invalidVaultSettings, vaultConnectionShape } from './settings.js';

export const DEFAULT_PKI_MOUNT = 'pki';
/**
 * Certificates shorter than this are refused: every renewal costs the node a
 * key and Vault a signature, so `duration: 2s` would be a renewal storm. The
 * role's max_ttl bounds the other end. Tests lower it.
 */
export const DEFAULT_PKI_MIN_DURATION = '1h';
/** The shortest lifetime x509-common accepts at all. */
const SHORTEST_MIN_DURATION_MS = 2_000;

/** Vault's own rule for PKI role names (a word character, then word characters, dots and dashes, ending in a word character). */
const PKI_ROLE = /^\w(?:[\w.-]*\w)?$/;
/** SPIFFE trust domains: lower-case letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

export const vaultPkiSettingsSchema = z
  .strictObject({
    ...vaultConnectionShape,
    pkiMount: z
      .string()
      .default(DEFAULT_PKI_MOUNT)
      .refine((path) => MOUNT_PATH.test(path), { message: 'must be the path of a PKI mount such as "pki" or "team-a/pki_int" (no leading or trailing "/")' }),
    pkiRole: z
      .string()
      .refine((role) => PKI_ROLE.test(role), { message: 'must be the name of a role of the PKI mount (letters, digits, "_", "-", ".")' }),
    /** When set, a pod that asks for no name gets its SPIFFE ID as URI SAN; when absent, such a pod is refused. */
    trustDomain: z
      .string()
      .refine((domain) => TRUST_DOMAIN.test(domain), { message: 'must be a SPIFFE trust domain (lower-case letters, digits, ".", "-", "_")' })
      .optional(),
    minDuration: z
      .string()
      .default(DEFAULT_PKI_MIN_DURATION)
      .refine((text) => (parseDuration(text) ?? 0) >= SHORTEST_MIN_DURATION_MS, {
        message: 'must be a Go-style duration of at least 2s, such as "1h" or "10m"',
      }),
    /** Per volume: a pod asking for renewals every second gets this many a minute (see x509-common/issuance-limit.ts). */
    maxIssuancesPerMinute: z
      .number()
      .int('must be a whole number')
      .min(MAX_ISSUANCES_PER_MINUTE_RANGE.min)
      .max(MAX_ISSUANCES_PER_MINUTE_RANGE.max)
      .default(DEFAULT_MAX_ISSUANCES_PER_MINUTE),
  })
  .superRefine(checkConnection)
  .superRefine((settings, context) => {
    checkAllowList(settings.auth, context, 'refused');
  });

export type VaultPkiSettings = z.output<typeof vaultPkiSettingsSchema>;

/** Validates the admin's settings; throws an Error naming every bad setting. */
export function parseVaultPkiSettings(typeName: string, instanceName: string, settings: unknown): VaultPkiSettings {
  const result = vaultPkiSettingsSchema.safeParse(settings ?? {});
  if (result.success) return result.data;
  throw invalidVaultSettings(typeName, instanceName, describeSettingsIssues(result.error));
}
