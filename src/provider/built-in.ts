import type { ProviderType } from './contract.js';
import { awsProviderType } from '../../providers/aws/index.js';
import { localCaProviderType } from '../../providers/local-ca/index.js';
import { vaultPkiProviderType, vaultProviderType } from '../../providers/vault/index.js';

/** Every provider type this build of keymount ships. */
export const BUILT_IN_PROVIDER_TYPES: readonly ProviderType[] = [localCaProviderType, vaultProviderType, vaultPkiProviderType, awsProviderType];
