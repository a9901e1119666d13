/**
 * A pod's volumeAttributes for a `vault` volume: `roleName` and `objects`, as
 * in vault-csi-provider's SecretProviderClass parameters. Its connection
 * parameters (vaultAddress, …) are the admin's in keymount: a pod that still
 * sets one is told where the setting lives now, instead of a bare "unknown key".
 */
import { invalidArgument } from '../../src/provider/contract.js';
import { OBJECTS_ATTRIBUTE, parseObjects, type VaultObject } from './objects.js';
import { AllowedPaths, checkObjectPath } from './path-policy.js';

export const ROLE_NAME_ATTRIBUTE = 'roleName';
const MAX_ROLE_NAME_LENGTH = 256;

/** vault-csi-provider parameters → the instance setting that replaces each. */
export const MOVED_TO_INSTANCE_SETTINGS: Readonly<Record<string, string>> = {
  vaultAddress: 'address',
  vaultNamespace: 'namespace',
  vaultKubernetesMountPath: 'auth.mountPath',
  vaultAuthMountPath: 'auth.mountPath',
  audience: 'auth.audience',
  vaultCACertPath: 'caFile',
  vaultCADirectory: 'caFile',
  vaultCAPem: 'caFile',
  vaultTLSServerName: 'tlsServerName',
  vaultSkipTLSVerify: 'skipVerify',
  vaultTLSClientCertPath: 'clientCertFile',
  vaultTLSClientKeyPath: 'clientKeyFile',
};

export const VAULT_ATTRIBUTE_KEYS: readonly string[] = [ROLE_NAME_ATTRIBUTE, OBJECTS_ATTRIBUTE, ...Object.keys(MOVED_TO_INSTANCE_SETTINGS)];

export interface VaultAttributes {
  /** The Vault role the pod logs in with (pod identity only). */
  readonly roleName: string | undefined;
  readonly objects: readonly VaultObject[];
}

export interface AttributeContext {
  readonly instanceName: string;
  /** True when pods log in as themselves (kubernetes/jwt auth) and so must name a role. */
  readonly usesPodIdentity: boolean;
  /** The admin's allow-list, on instances that use the driver's own identity (absent there: nothing is allowed). */
  readonly allowedPaths?: AllowedPaths;
}

export function parseVaultAttributes(attributes: Readonly<Record<string, string>>, context: AttributeContext): VaultAttributes {
  for (const [key, setting] of Object.entries(MOVED_TO_INSTANCE_SETTINGS)) {
    if (attributes[key] === undefined) continue;
    throw invalidArgument(
      `volumeAttributes.${key} is not for pods in keymount: the cluster admin sets it once as "${setting}" of ` +
        `provider instance "${context.instanceName}"; remove it from the volume`,
    );
  }
  const roleName = parseRoleName(attributes[ROLE_NAME_ATTRIBUTE], context);
  const objects = parseObjects(attributes[OBJECTS_ATTRIBUTE]);
  // Before any Vault call: a refused path must not even reach the mount lookup.
  const allowed = context.usesPodIdentity ? undefined : (context.allowedPaths ?? new AllowedPaths([]));
  const policy = { instanceName: context.instanceName, allowed };
  objects.forEach((object, index) => {
    checkObjectPath(policy, `attribute "${OBJECTS_ATTRIBUTE}", item ${index + 1} (objectName "${object.objectName}")`, object.secretPath, object.method);
  });
  return Object.freeze({ roleName, objects });
}

export function parseRoleName(text: string | undefined, context: Pick<AttributeContext, 'instanceName' | 'usesPodIdentity'>): string | undefined {
  const roleName = text?.trim() ?? '';
  if (!context.usesPodIdentity) {
    if (roleName === '') return undefined;
    throw invalidArgument(
      `volumeAttributes.roleName: provider instance "${context.instanceName}" reads with the driver's own Vault identity, ` +
        'not a role of the pod; remove roleName',
    );
  }
  if (roleName === '') {
    throw invalidArgument(
      `volumeAttributes.roleName is required: the Vault role the pod's service account logs in with (provider instance "${context.instanceName}")`,
    );
  }
  if (roleName.length > MAX_ROLE_NAME_LENGTH || /\p{Cc}/u.test(roleName)) {
    throw invalidArgument(`volumeAttributes.roleName must be a Vault role name of at most ${MAX_ROLE_NAME_LENGTH} characters without control characters`);
  }
  return roleName;
}
