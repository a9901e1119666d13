/**
 * Who keymount is towards Vault for one request. With the kubernetes and jwt
 * methods it is the pod itself: the login carries the pod's own projected
 * service-account token and the role the pod names, so Vault decides what the
 * pod may read. With token and approle (an admin's explicit choice) it is the
 * driver, the same for every pod of the instance.
 */
import {
  KeymountError,
  Sensitive,
  failedPrecondition,
  type Clock,
  type PodIdentity,
  type ServiceAccountToken,
} from '../../src/provider/contract.js';
import type { TokenGrant, VaultApi } from './api.js';
import { isPodAuth, type VaultAuthSettings } from './settings.js';
import type { TokenSource } from './token-cache.js';

export type ReadFile = (path: string) => Promise<Buffer>;

/** What of a request decides the identity. */
export interface IdentityRequest {
  readonly pod: PodIdentity;
  readonly tokens: ReadonlyMap<string, ServiceAccountToken>;
  /** The pod's roleName attribute (pod auth only). */
  readonly roleName: string | undefined;
}

export interface Authenticator {
  /** True when pods log in as themselves and must name a role. */
  readonly usesPodIdentity: boolean;
  /** Throws FAILED_PRECONDITION when the request lacks what the login needs. */
  sourceFor(request: IdentityRequest): TokenSource;
}

export interface AuthDependencies {
  readonly api: VaultApi;
  readonly readFile: ReadFile;
  readonly clock: Clock;
}

export function createAuthenticator(auth: VaultAuthSettings, deps: AuthDependencies): Authenticator {
  if (isPodAuth(auth)) {
    return {
      usesPodIdentity: true,
      sourceFor: (request) => podTokenSource(auth.type, auth.mountPath, auth.audience, request, deps),
    };
  }
  const source = auth.type === 'token' ? staticTokenSource(auth.tokenFile, deps) : appRoleSource(auth, deps);
  return { usesPodIdentity: false, sourceFor: () => source };
}

function podTokenSource(
  type: string,
  mountPath: string,
  audience: string,
  request: IdentityRequest,
  deps: AuthDependencies,
): TokenSource {
  const { pod, roleName } = request;
  if (roleName === undefined) throw new KeymountError('INTERNAL', 'vault: pod auth without a roleName passed attribute parsing');
  const account = `${pod.namespace}/${pod.serviceAccountName}`;
  const serviceAccountToken = request.tokens.get(audience);
  if (serviceAccountToken === undefined) {
    throw failedPrecondition(
      `the kubelet passed no service-account token for audience "${audience}", which the Vault ${type} login needs: ` +
        `the cluster admin must add {audience: "${audience}"} to the CSIDriver's spec.tokenRequests`,
    );
  }
  return {
    // The pod UID is part of the key: two pods of one service account never share a Vault token.
    key: JSON.stringify([type, mountPath, roleName, pod.namespace, pod.serviceAccountName, pod.uid]),
    revocable: true,
    description: `pod ${pod.namespace}/${pod.name} (service account ${account}), role "${roleName}"`,
    async obtain(signal) {
      const expiresAt = serviceAccountToken.expiresAt;
      if (expiresAt !== undefined && expiresAt.getTime() <= deps.clock.now().getTime()) {
        throw new KeymountError(
          'UNAVAILABLE',
          `the pod's service-account token for audience "${audience}" expired at ${expiresAt.toISOString()}; the kubelet's next republish brings a fresh one`,
        );
      }
      return deps.api.login(
        mountPath,
        { role: roleName, jwt: serviceAccountToken.token.reveal() },
        signal,
        `Vault refused or failed the login at auth/${mountPath} with role "${roleName}" as service account ${account}`,
      );
    },
  };
}

function staticTokenSource(tokenFile: string, deps: AuthDependencies): TokenSource {
  return {
    key: JSON.stringify(['token', tokenFile]),
    revocable: false,
    description: `the driver's token from ${tokenFile}`,
    async obtain(signal): Promise<TokenGrant> {
      // Re-read on every login, so a token rotated on disk is picked up.
      const token = new Sensitive(await readCredential(deps.readFile, tokenFile, 'auth.tokenFile'));
      return deps.api.lookupSelf(token, signal, `checking the driver's Vault token from ${tokenFile}`);
    },
  };
}

function appRoleSource(auth: Extract<VaultAuthSettings, { type: 'approle' }>, deps: AuthDependencies): TokenSource {
  return {
    key: JSON.stringify(['approle', auth.mountPath, auth.roleId ?? auth.roleIdFile]),
    revocable: false,
    description: `the driver's AppRole at auth/${auth.mountPath}`,
    async obtain(signal) {
      const roleId = auth.roleId ?? (await readCredential(deps.readFile, auth.roleIdFile ?? '', 'auth.roleIdFile'));
      const secretId = await readCredential(deps.readFile, auth.secretIdFile, 'auth.secretIdFile');
      return deps.api.login(auth.mountPath, { role_id: roleId, secret_id: secretId }, signal, `the driver's AppRole login at auth/${auth.mountPath}`);
    },
  };
}

/** A credential file's content without surrounding whitespace; its absence is the admin's to fix. */
export async function readCredential(readFile: ReadFile, path: string, setting: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path)).toString('utf8').trim();
  } catch (error) {
    throw failedPrecondition(`cannot read ${setting} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); the cluster admin must fix it`);
  }
  if (text === '') throw failedPrecondition(`${setting} ${path} is empty; the cluster admin must fix it`);
  return text;
}
