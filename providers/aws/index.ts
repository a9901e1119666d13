/**
 * The aws provider: secrets from AWS Secrets Manager and parameters from SSM
 * Parameter Store, read with the pod's own IAM role (IRSA) or, where the
 * admin opts in, the node's credentials. Objects are described as for the
 * secrets-store CSI driver's AWS provider.
 */
import type { Provider, ProviderDependencies, ProviderType } from '../../src/provider/contract.js';
import { ClientPool, sdkClientFactory, type AwsClientFactory } from './clients.js';
import { IdentityResolver } from './credentials.js';
import { AWS_TYPE, AwsProvider } from './provider.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { awsSettingsSchema, parseAwsSettings } from './settings.js';

export type { AwsAttributes, AwsObject } from './objects.js';
export type { AwsClientFactory, ClientOptions } from './clients.js';
export type { RetryPolicy } from './retry.js';

/** What tests may replace: the SDK clients (e.g. with aws-sdk-client-mock) and the retry pacing. */
export interface AwsProviderOverrides {
  readonly clients?: AwsClientFactory;
  readonly retry?: RetryPolicy;
}

export function createAwsProvider(
  instanceName: string,
  rawSettings: unknown,
  deps: ProviderDependencies,
  overrides: AwsProviderOverrides = {},
): AwsProvider {
  const settings = parseAwsSettings(instanceName, rawSettings);
  const retry = overrides.retry ?? DEFAULT_RETRY_POLICY;
  const pool = new ClientPool(overrides.clients ?? sdkClientFactory, settings, deps.clock, deps.maxAnswerBytes);
  const identities = new IdentityResolver(settings.auth, pool, deps.clock, retry);
  if (settings.auth.type === 'node') {
    deps.logger.warn(
      { instance: instanceName },
      'aws: auth type "node": every pod that selects this instance reads with the driver\'s own AWS credentials; ' +
        'keymount lets them read only the names in auth.sharedIdentity.allow',
    );
  }
  return new AwsProvider({ instanceName, settings, deps, pool, identities, retry });
}

export const awsProviderType: ProviderType = {
  type: AWS_TYPE,
  settingsSchema: awsSettingsSchema,
  create(instanceName: string, settings: unknown, deps: ProviderDependencies): Promise<Provider> {
    return Promise.resolve().then(() => createAwsProvider(instanceName, settings, deps));
  },
};
