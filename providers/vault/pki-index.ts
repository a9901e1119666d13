/**
 * The `vault-pki` provider type: certificates signed by the PKI engine of
 * HashiCorp Vault or OpenBao from a CSR made on the node. It reaches Vault
 * exactly as the `vault` type does (same connection and auth settings, same
 * per-pod login and token cache).
 */
import type { Provider, ProviderDependencies, ProviderType } from '../../src/provider/contract.js';
import { connectVault, defaultVaultEnvironment, type VaultEnvironment } from './connection.js';
import { VAULT_PKI_TYPE, VaultPkiProvider } from './pki-provider.js';
import { parseVaultPkiSettings, vaultPkiSettingsSchema } from './pki-settings.js';

export type { VaultPkiAttributes } from './pki-attributes.js';

export function createVaultPkiProviderType(env: VaultEnvironment = defaultVaultEnvironment): ProviderType {
  return {
    type: VAULT_PKI_TYPE,
    settingsSchema: vaultPkiSettingsSchema,
    async create(instanceName: string, settings: unknown, deps: ProviderDependencies): Promise<Provider> {
      const parsed = parseVaultPkiSettings(VAULT_PKI_TYPE, instanceName, settings);
      const connection = await connectVault(VAULT_PKI_TYPE, instanceName, parsed, deps, env);
      return new VaultPkiProvider(instanceName, parsed, connection, deps);
    },
  };
}

export const vaultPkiProviderType: ProviderType = createVaultPkiProviderType();
