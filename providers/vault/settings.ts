/**
 * The admin's settings for one Vault / OpenBao instance: where the server is,
 * how to trust it, and how to log in. Pods never see or override any of it.
 *
 * The connection and auth parts are exported on their own so that other
 * Vault-backed provider types (vault-pki) accept exactly the same settings.
 */
import { z } from 'zod';
import { InvalidSettings, parseDuration } from '../../src/provider/contract.js';
import { invalidAllowPatternReason } from './path-policy.js';

export const DEFAULT_AUDIENCE = 'vault';
export const DEFAULT_REQUEST_TIMEOUT = '10s';

/** Auth types that log in with the pod's own service-account token. */
export const POD_AUTH_TYPES = ['kubernetes', 'jwt'] as const;

/** A Vault mount path: "jwt", "kubernetes", "team-a/k8s"; no leading or trailing slash, no dot segments. */
export const MOUNT_PATH = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

const filePath = z.string().min(1, 'must not be empty');
const mountPath = (defaultPath: string) =>
  z
    .string()
    .default(defaultPath)
    .refine((path) => MOUNT_PATH.test(path), { message: 'must be a mount path such as "jwt" or "team-a/kubernetes" (no leading "/" or "auth/")' });
const audience = z.string().min(1, 'must not be empty').default(DEFAULT_AUDIENCE);

/**
 * The driver's own identity serves every pod of the instance: the admin must
 * say so explicitly and list what pods may read with it (vault-pki pods name
 * no path, so a vault-pki instance takes the acknowledgement alone).
 */
const sharedIdentitySchema = z
  .strictObject({
    acknowledged: z.boolean({ error: 'must be true' }),
    allow: z
      .array(z.string().superRefine(checkAllowPattern), { error: 'must be a list of Vault path patterns such as "secret/data/shared/*"' })
      .min(1, 'must list at least one Vault path pattern such as "secret/data/shared/*"')
      .optional(),
  })
  .optional();

/** The setting that replaced acknowledgeSharedIdentity; kept in the schema to say so. */
const replacedAcknowledgement = z.unknown().optional();

function checkAllowPattern(pattern: string, context: z.RefinementCtx): void {
  const reason = invalidAllowPatternReason(pattern);
  if (reason !== undefined) context.addIssue({ code: 'custom', message: `"${pattern.slice(0, 120)}" ${reason}` });
}

const podAuthSchemas = [
  z.strictObject({ type: z.literal('kubernetes'), mountPath: mountPath('kubernetes'), audience }),
  z.strictObject({ type: z.literal('jwt'), mountPath: mountPath('jwt'), audience }),
] as const;

const driverAuthSchemas = [
  z.strictObject({
    type: z.literal('token'),
    /** Re-read at every login, so a token rotated on disk is picked up. */
    tokenFile: filePath,
    sharedIdentity: sharedIdentitySchema,
    acknowledgeSharedIdentity: replacedAcknowledgement,
  }),
  z.strictObject({
    type: z.literal('approle'),
    mountPath: mountPath('approle'),
    roleId: z.string().min(1, 'must not be empty').optional(),
    roleIdFile: filePath.optional(),
    secretIdFile: filePath,
    sharedIdentity: sharedIdentitySchema,
    acknowledgeSharedIdentity: replacedAcknowledgement,
  }),
] as const;

export const vaultAuthSchema = z
  .discriminatedUnion('type', [...podAuthSchemas, ...driverAuthSchemas], {
    error: 'auth.type must be one of kubernetes, jwt, token, approle',
  })
  .superRefine((auth, context) => {
    if (auth.type !== 'token' && auth.type !== 'approle') return;
    if (auth.acknowledgeSharedIdentity !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['acknowledgeSharedIdentity'],
        message: 'was replaced by sharedIdentity: {acknowledged: true, allow: [<Vault path patterns pods may read>]}',
      });
    }
    if (auth.sharedIdentity?.acknowledged !== true) {
      context.addIssue({
        code: 'custom',
        path: ['sharedIdentity', 'acknowledged'],
        message:
          `auth.type "${auth.type}" makes every pod that selects this instance read with the driver's own Vault identity ` +
          '(pods no longer need a role of their own); set sharedIdentity: {acknowledged: true, allow: [...]} to confirm that is intended',
      });
    }
    if (auth.type === 'approle' && (auth.roleId === undefined) === (auth.roleIdFile === undefined)) {
      context.addIssue({ code: 'custom', path: ['roleId'], message: 'set exactly one of roleId and roleIdFile' });
    }
  });

/** Everything needed to reach and trust one Vault server. */
export const vaultConnectionShape = {
  address: z.string().refine(isHttpUrl, { message: 'must be an http:// or https:// URL such as "https://vault.example:8200"' }),
  /** Vault Enterprise / OpenBao namespace, sent as X-Vault-Namespace. */
  namespace: z.string().min(1, 'must not be empty').optional(),
  caFile: filePath.optional(),
  tlsServerName: z.string().min(1, 'must not be empty').optional(),
  clientCertFile: filePath.optional(),
  clientKeyFile: filePath.optional(),
  skipVerify: z.boolean().default(false),
  requestTimeout: z
    .string()
    .default(DEFAULT_REQUEST_TIMEOUT)
    .refine((text) => (parseDuration(text) ?? 0) >= 1000, { message: 'must be a Go-style duration of at least 1s, such as "10s"' }),
  auth: vaultAuthSchema,
};

const vaultSettingsObject = z.strictObject(vaultConnectionShape);

export const vaultSettingsSchema = vaultSettingsObject
  .superRefine(checkConnection)
  .superRefine((settings, context) => {
    checkAllowList(settings.auth, context, 'required');
  });

export type VaultAuthSettings = z.output<typeof vaultAuthSchema>;
export type PodAuthSettings = Extract<VaultAuthSettings, { type: 'kubernetes' | 'jwt' }>;
export type VaultConnectionSettings = Omit<z.output<typeof vaultSettingsObject>, 'auth'>;
export type VaultSettings = z.output<typeof vaultSettingsObject>;

export function isPodAuth(auth: VaultAuthSettings): auth is PodAuthSettings {
  return auth.type === 'kubernetes' || auth.type === 'jwt';
}

/** Cross-field rules of the connection part; exported for types that extend the settings. */
export function checkConnection(settings: Omit<VaultConnectionSettings, 'requestTimeout'>, context: z.RefinementCtx): void {
  if ((settings.clientCertFile === undefined) !== (settings.clientKeyFile === undefined)) {
    context.addIssue({ code: 'custom', path: ['clientCertFile'], message: 'clientCertFile and clientKeyFile must be set together' });
  }
  const usesTls = settings.address.startsWith('https://');
  const tlsSettings = (['caFile', 'tlsServerName', 'clientCertFile', 'clientKeyFile'] as const).filter((key) => settings[key] !== undefined);
  if (!usesTls && (tlsSettings.length > 0 || settings.skipVerify)) {
    context.addIssue({
      code: 'custom',
      path: ['address'],
      message: `is plain http:// but ${[...tlsSettings, ...(settings.skipVerify ? ['skipVerify'] : [])].join(', ')} only apply to https://`,
    });
  }
  if (settings.skipVerify && (settings.caFile !== undefined || settings.tlsServerName !== undefined)) {
    context.addIssue({ code: 'custom', path: ['skipVerify'], message: 'cannot be combined with caFile or tlsServerName (which verify the server)' });
  }
}

/**
 * A vault instance with the driver's identity must list what pods may read
 * (`required`); a vault-pki instance signs with its own pkiMount and pkiRole
 * only, so a list there would suggest a control that does not exist (`refused`).
 */
export function checkAllowList(auth: VaultAuthSettings, context: z.RefinementCtx, rule: 'required' | 'refused'): void {
  if (isPodAuth(auth) || auth.sharedIdentity?.acknowledged !== true) return;
  const allow = auth.sharedIdentity.allow;
  if (rule === 'required' && allow === undefined) {
    context.addIssue({
      code: 'custom',
      path: ['auth', 'sharedIdentity', 'allow'],
      message: 'is required: the Vault path patterns pods of this instance may read with the driver\'s identity, such as ["secret/data/shared/*"]',
    });
  }
  if (rule === 'refused' && allow !== undefined) {
    context.addIssue({
      code: 'custom',
      path: ['auth', 'sharedIdentity', 'allow'],
      message: 'does not apply to vault-pki: its pods reach only the instance\'s pkiMount and pkiRole; remove it',
    });
  }
}

/** Validates the admin's settings; throws an Error naming every bad setting. */
export function parseVaultSettings(typeName: string, instanceName: string, settings: unknown): VaultSettings {
  const result = vaultSettingsSchema.safeParse(settings ?? {});
  if (result.success) return result.data;
  throw invalidVaultSettings(typeName, instanceName, describeSettingsIssues(result.error));
}

/** The Error create() throws for bad settings: the driver refuses to start and shows it. */
export function invalidVaultSettings(typeName: string, instanceName: string, detail: string, cause?: unknown): Error {
  return new InvalidSettings(typeName, instanceName, detail, { cause });
}

export function describeSettingsIssues(error: z.ZodError): string {
  return error.issues.flatMap(describeIssue).join('; ');
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `unknown setting "${where === '' ? key : `${where}.${key}`}"`);
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return [`${where}: is required`];
  return [where === '' ? issue.message : `${where}: ${issue.message}`];
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}
