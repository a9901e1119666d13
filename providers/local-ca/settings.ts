/**
 * The admin's settings for one local-ca instance (the `settings` block of the
 * instance in keymount's config). Shape and defaults are checked here; the
 * policy patterns are compiled (and their variables checked) in policy.ts.
 */
import { z } from 'zod';
import { InvalidSettings, parseDuration } from '../../src/provider/contract.js';
import { DEFAULT_KEY_USAGES, DEFAULT_MAX_ISSUANCES_PER_MINUTE, MAX_ISSUANCES_PER_MINUTE_RANGE, ONE_MINUTE_MS } from '../x509-common/index.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_MAX_DURATION = '24h';
/**
 * Certificates shorter than this are refused: each renewal costs the node a
 * key generation and a signature, so a pod asking for `duration: 2s` would
 * keep the driver busy for every other tenant. Tests lower it.
 */
export const DEFAULT_MIN_DURATION = '1h';
/** The shortest lifetime x509-common accepts at all. */
const SHORTEST_MIN_DURATION_MS = 2_000;

const DEFAULT_DNS_NAME_PATTERNS = ['*.${POD_NAMESPACE}.svc', '*.${POD_NAMESPACE}.svc.cluster.local'];
const DEFAULT_URI_PATTERNS = ['spiffe://${TRUST_DOMAIN}/ns/${POD_NAMESPACE}/sa/${SERVICE_ACCOUNT_NAME}'];

/** SPIFFE trust domains: lower-case letters, digits, dots, dashes and underscores. */
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

const patternList = z.array(z.string().min(1, 'must not be empty'));

const policySchema = z
  .strictObject({
    /**
     * Absent: a common name must be one of the request's own DNS names (which
     * the dnsNames patterns have allowed). Set: it may also match one of these.
     */
    commonNames: patternList.optional(),
    /**
     * Which subject attributes other than CN and emailAddress (those follow
     * commonNames and emailSans) a pod may ask for, and with which values:
     * type name (O, OU, C, L, ST, STREET, serialNumber, postalCode, DC, UID) or
     * dotted OID → value patterns, where `*` matches any run of characters and
     * ${POD_NAMESPACE}-style variables match their value literally, e.g.
     * `{ O: ["Example Inc."], OU: ["*"] }`. A type not listed is refused (the
     * default: none), so no pod gets O=system:masters by asking for it.
     */
    subjectAttributes: z.record(z.string(), patternList).default({}),
    /**
     * The key usages a pod may ask for in key-usages and ext-key-usages: the
     * names those attributes take, or dotted OIDs of extended usages. The
     * default is what a TLS server or client needs; OCSP signing, code signing,
     * anyExtendedKeyUsage and the like need the admin to list them.
     */
    allowedKeyUsages: z.array(z.string().min(1, 'must not be empty')).default([...DEFAULT_KEY_USAGES]),
    dnsNames: patternList.default(DEFAULT_DNS_NAME_PATTERNS),
    uriSans: patternList.default(DEFAULT_URI_PATTERNS),
    /** Exact addresses or CIDR ranges; empty means no IP SANs at all. */
    ipSans: patternList.default([]),
    /** Email SAN patterns; empty means no email SANs at all. */
    emailSans: patternList.default([]),
    maxDuration: z
      .string()
      .default(DEFAULT_MAX_DURATION)
      .refine((text) => (parseDuration(text) ?? 0) >= ONE_MINUTE_MS, {
        message: 'must be a Go-style duration of at least 1m, such as "24h" or "90m"',
      }),
    minDuration: z
      .string()
      .default(DEFAULT_MIN_DURATION)
      .refine((text) => (parseDuration(text) ?? 0) >= SHORTEST_MIN_DURATION_MS, {
        message: 'must be a Go-style duration of at least 2s, such as "1h" or "10m"',
      }),
    allowIsCA: z.boolean().default(false),
  })
  .refine((policy) => (parseDuration(policy.minDuration) ?? 0) <= (parseDuration(policy.maxDuration) ?? 0), {
    message: 'minDuration must not be longer than maxDuration',
    path: ['minDuration'],
  });

/** Also checked by the core before any instance is created, and the source of the chart's values.schema.json. */
export const localCaSettingsSchema = z
  .strictObject({
    caCertFile: z.string().min(1, 'must not be empty').optional(),
    caKeyFile: z.string().min(1, 'must not be empty').optional(),
    trustDomain: z
      .string()
      .default(DEFAULT_TRUST_DOMAIN)
      .refine((domain) => TRUST_DOMAIN.test(domain), {
        message: 'must be a SPIFFE trust domain (lower-case letters, digits, ".", "-", "_")',
      }),
    policy: policySchema.prefault({}),
    /** Per volume: a pod asking for renewals every second gets this many a minute (see x509-common/issuance-limit.ts). */
    maxIssuancesPerMinute: z
      .number()
      .int('must be a whole number')
      .min(MAX_ISSUANCES_PER_MINUTE_RANGE.min)
      .max(MAX_ISSUANCES_PER_MINUTE_RANGE.max)
      .default(DEFAULT_MAX_ISSUANCES_PER_MINUTE),
  })
  .refine((settings) => (settings.caCertFile === undefined) === (settings.caKeyFile === undefined), {
    message: 'caCertFile and caKeyFile must be set together (or both left out for a generated development CA)',
  });

export type LocalCaSettings = z.output<typeof localCaSettingsSchema>;
export type PolicySettings = LocalCaSettings['policy'];

/** Validates the admin's settings; throws an Error naming every bad setting. */
export function parseSettings(instanceName: string, settings: unknown): LocalCaSettings {
  const result = localCaSettingsSchema.safeParse(settings ?? {});
  if (result.success) return result.data;
  throw invalidSettings(instanceName, result.error.issues.flatMap(describeIssue).join('; '));
}

/** The Error create() throws for bad settings: the driver refuses to start and shows it. */
export function invalidSettings(instanceName: string, detail: string, cause?: unknown): Error {
  return new InvalidSettings('local-ca', instanceName, detail, { cause });
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const where = settingPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `unknown setting "${where === '' ? key : `${where}.${key}`}"`);
  }
  return [where === '' ? issue.message : `${where}: ${issue.message}`];
}

/** "policy.dnsNames[2]" for ['policy', 'dnsNames', 2]. */
export function settingPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : `${index > 0 ? '.' : ''}${String(segment)}`))
    .join('');
}
