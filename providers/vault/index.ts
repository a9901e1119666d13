/**
 * The `vault` provider type: secrets from HashiCorp Vault or OpenBao, read
 * with each pod's own identity (kubernetes or jwt auth) and written as files,
 * with the `objects` list of vault-csi-provider.
 *
 * The modules other Vault-backed types reuse: settings.ts (connection and
 * auth settings), connection.ts (client, login, token cache), api.ts (calls,
 * retries, abort), errors.ts (error codes), leases.ts (renewal, revocation).
 */
import type { Provider, ProviderDependencies, ProviderType } from '../../src/provider/contract.js';
import { connectVault, defaultVaultEnvironment, type VaultEnvironment } from './connection.js';
import { AllowedPaths } from './path-policy.js';
import { VAULT_TYPE, VaultProvider } from './provider.js';
import { parseVaultSettings, vaultSettingsSchema } from './settings.js';

export type { VaultAttributes } from './attributes.js';
export type { VaultEnvironment } from './connection.js';

export function createVaultProviderType(env: VaultEnvironment = defaultVaultEnvironment): ProviderType {
  return {
    type: VAULT_TYPE,
    settingsSchema: vaultSettingsSchema,
    async create(instanceName: string, settings: unknown, deps: ProviderDependencies): Promise<Provider> {
      const parsed = parseVaultSettings(VAULT_TYPE, instanceName, settings);
      const connection = await connectVault(VAULT_TYPE, instanceName, parsed, deps, env);
      const allowed = parsed.auth.type === 'token' || parsed.auth.type === 'approle' ? new AllowedPaths(parsed.auth.sharedIdentity?.allow ?? []) : undefined;
      return new VaultProvider(instanceName, connection, deps, allowed);
    },
  };
}

export const vaultProviderType: ProviderType = createVaultProviderType();

export { createVaultPkiProviderType, vaultPkiProviderType, type VaultPkiAttributes } from './pki-index.js';
