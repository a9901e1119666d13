/**
 * One instance's link to Vault, built at create() time from its settings:
 * TLS material loaded, the HTTP client made, the login method chosen, and an
 * empty token cache. Shared by every Vault-backed provider type.
 */
import { readFile as readFileFromDisk } from 'node:fs/promises';
import { DEFAULT_BACKEND_ANSWER_LIMIT, parseDuration, type ProviderDependencies } from '../../src/provider/contract.js';
import { VaultApi } from './api.js';
import { createAuthenticator, readCredential, type Authenticator, type ReadFile } from './auth.js';
import { httpVaultClientFactory, type VaultClientFactory } from './client.js';
import { DEFAULT_REQUEST_TIMEOUT, invalidVaultSettings, type VaultSettings } from './settings.js';
import { TokenCache } from './token-cache.js';

/** The side effects a Vault instance needs, injectable for tests. */
export interface VaultEnvironment {
  readonly clientFactory: VaultClientFactory;
  readonly readFile: ReadFile;
}

export const defaultVaultEnvironment: VaultEnvironment = {
  clientFactory: httpVaultClientFactory,
  readFile: (path) => readFileFromDisk(path),
};

export interface VaultConnection {
  readonly api: VaultApi;
  readonly authenticator: Authenticator;
  readonly tokens: TokenCache;
}

export async function connectVault(
  typeName: string,
  instanceName: string,
  settings: VaultSettings,
  deps: ProviderDependencies,
  env: VaultEnvironment,
): Promise<VaultConnection> {
  const fail = (detail: string, cause?: unknown): Error => invalidVaultSettings(typeName, instanceName, detail, cause);
  const load = async (setting: string, path: string | undefined): Promise<Buffer | undefined> => {
    if (path === undefined) return undefined;
    try {
      return await env.readFile(path);
    } catch (error) {
      throw fail(`${setting}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error);
    }
  };
  const [ca, cert, key] = [
    await load('caFile', settings.caFile),
    await load('clientCertFile', settings.clientCertFile),
    await load('clientKeyFile', settings.clientKeyFile),
  ];
  await checkCredentialFiles(settings, env.readFile, fail);
  if (settings.skipVerify) {
    deps.logger.warn(
      { instance: instanceName, address: settings.address },
      `${typeName}: skipVerify is set: keymount does NOT verify the Vault server's certificate, so anyone on the network path can ` +
        "impersonate Vault and receive the pods' service-account tokens; set caFile instead",
    );
  }
  const transport = env.clientFactory({
    endpoint: settings.address.replace(/\/+$/, ''),
    namespace: settings.namespace,
    ca,
    cert,
    key,
    serverName: settings.tlsServerName,
    rejectUnauthorized: !settings.skipVerify,
    timeoutMs: parseDuration(settings.requestTimeout) ?? parseDuration(DEFAULT_REQUEST_TIMEOUT) ?? 10_000,
    maxAnswerBytes: deps.maxAnswerBytes ?? DEFAULT_BACKEND_ANSWER_LIMIT,
  });
  const api = new VaultApi(transport, settings.address);
  const authenticator = createAuthenticator(settings.auth, { api, readFile: env.readFile, clock: deps.clock });
  return { api, authenticator, tokens: new TokenCache(api, deps.clock, deps.logger) };
}

/** The driver's own credentials must be readable at start-up; they are read again at every login. */
async function checkCredentialFiles(settings: VaultSettings, readFile: ReadFile, fail: (detail: string, cause?: unknown) => Error): Promise<void> {
  const { auth } = settings;
  const files: [string, string][] = [];
  if (auth.type === 'token') files.push(['auth.tokenFile', auth.tokenFile]);
  if (auth.type === 'approle') {
    files.push(['auth.secretIdFile', auth.secretIdFile]);
    if (auth.roleIdFile !== undefined) files.push(['auth.roleIdFile', auth.roleIdFile]);
  }
  for (const [setting, path] of files) {
    try {
      await readCredential(readFile, path, setting);
    } catch (error) {
      throw fail((error as Error).message, error);
    }
  }
}
