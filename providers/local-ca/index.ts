/**
 * The local-ca provider: issues each pod a fresh key pair and X.509
 * certificate, signed on the node by a CA the admin configures (or, for
 * development, one generated in memory at start-up).
 */
import type { Provider, ProviderDependencies, ProviderType } from '../../src/provider/contract.js';
import {
  generateDevelopmentCertificateAuthority,
  loadCertificateAuthority,
  type CertificateAuthority,
} from './certificate-authority.js';
import { compilePolicy } from './policy.js';
import { LOCAL_CA_TYPE, LocalCaProvider } from './provider.js';
import { localCaSettingsSchema, parseSettings, type LocalCaSettings } from './settings.js';

export type { LocalCaAttributes } from './attributes.js';

export const localCaProviderType: ProviderType = {
  type: LOCAL_CA_TYPE,
  settingsSchema: localCaSettingsSchema,
  async create(instanceName: string, settings: unknown, deps: ProviderDependencies): Promise<Provider> {
    const parsedSettings = parseSettings(instanceName, settings);
    const policy = compilePolicy(instanceName, parsedSettings);
    const ca = await obtainCertificateAuthority(instanceName, parsedSettings, deps);
    return new LocalCaProvider({ instanceName, policy, ca, deps, maxIssuancesPerMinute: parsedSettings.maxIssuancesPerMinute });
  },
};

async function obtainCertificateAuthority(
  instanceName: string,
  settings: LocalCaSettings,
  deps: ProviderDependencies,
): Promise<CertificateAuthority> {
  const now = deps.clock.now();
  const { caCertFile, caKeyFile } = settings;
  if (caCertFile !== undefined && caKeyFile !== undefined) {
    return loadCertificateAuthority(instanceName, { caCertFile, caKeyFile }, now);
  }
  const ca = await generateDevelopmentCertificateAuthority(instanceName, now);
  deps.logger.warn(
    { instance: instanceName, notAfter: ca.notAfter.toISOString() },
    'local-ca: no caCertFile/caKeyFile set, generated an in-memory development CA; it is lost on restart ' +
      '(pods then hold certificates from a CA nobody trusts any more), so set caCertFile and caKeyFile for real use',
  );
  return ca;
}
