/**
 * The HTTP side of talking to Vault, behind a small interface so tests and
 * other Vault-backed types can swap it. The default implementation is
 * node-vault, given every setting explicitly: node-vault would otherwise fall
 * back to VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and VAULT_SKIP_VERIFY from
 * the driver's environment, and keymount's instances must not depend on that.
 */
import nodeVault from 'node-vault';
import type { Sensitive } from '../../src/provider/contract.js';

/** What one Vault call sends; the token goes in X-Vault-Token of this call only. */
export interface VaultCall {
  readonly method: 'GET' | 'POST';
  /** API path without "/v1/", e.g. "secret/data/app" or "auth/jwt/login"; may carry a query string. */
  readonly path: string;
  readonly token?: Sensitive<string>;
  readonly body?: Readonly<Record<string, unknown>>;
}

/** Sends calls to one Vault server; resolves the parsed JSON body (undefined for 204). */
export interface VaultTransport {
  send(call: VaultCall): Promise<unknown>;
}

export interface VaultClientOptions {
  /** Base URL, e.g. "https://vault.example:8200". */
  readonly endpoint: string;
  readonly namespace: string | undefined;
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly serverName: string | undefined;
  readonly rejectUnauthorized: boolean;
  /** Upper bound of one HTTP exchange, so an unanswered call does not linger after its fetch gave up. */
  readonly timeoutMs: number;
}

/** Builds the transport of one instance at create() time. */
export type VaultClientFactory = (options: VaultClientOptions) => VaultTransport;

/** node-vault's own debug output would print request bodies (logins carry JWTs): keep it silent. */
const silent = (): void => undefined;

export const nodeVaultClientFactory: VaultClientFactory = (options) => {
  const client = nodeVault({
    endpoint: options.endpoint,
    apiVersion: 'v1',
    pathPrefix: '',
    namespace: options.namespace ?? '',
    debug: silent,
    requestOptions: {
      strictSSL: options.rejectUnauthorized,
      timeout: options.timeoutMs,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
      ...(options.serverName !== undefined ? { agentOptions: { servername: options.serverName } } : {}),
    },
  });
  // Empty values in the config fall back to the environment inside node-vault; clear them after construction.
  Object.assign(client, { token: '', pathPrefix: '', namespace: options.namespace });
  return {
    async send(call) {
      // A fresh headers object per call: node-vault adds to it, and a token must never stick to the client.
      const headers: Record<string, string> = call.token === undefined ? {} : { 'X-Vault-Token': call.token.reveal() };
      const body: unknown =
        call.method === 'GET' ? await client.read(call.path, { headers }) : await client.write(call.path, call.body ?? {}, { headers });
      return body === '' ? undefined : body;
    },
  };
};
