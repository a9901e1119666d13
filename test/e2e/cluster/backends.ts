/**
 * The secret backends the e2e suite wires to the real control plane: OpenBao with the Kubernetes auth method
 * (it validates pod tokens by calling this apiserver's TokenReview, with a reviewer account bound to
 * system:auth-delegator, as a cluster admin sets it up) and moto for AWS.
 */
import { readFileSync } from 'node:fs';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { MotoServer } from '../../helpers/moto.js';
import { writePolicy, type OpenBao } from '../../helpers/openbao.js';
import type { ControlPlane } from './control-plane.js';
import { createNamespace, createServiceAccount } from './kube-objects.js';

/** The audiences keymount's Vault and AWS instances log in with (the chart's CSIDriver requests both). */
export const VAULT_AUDIENCE = 'vault';
export const STS_AUDIENCE = 'sts.amazonaws.com';
export const AWS_REGION = 'us-east-1';
/** moto accepts any role in AssumeRoleWithWebIdentity; the ARN only has to be well-formed. */
export const ROLE_ARN = 'arn:aws:iam::123456789012:role/shop-web';

export interface VaultRoleSpec {
  readonly role: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** KV v2 path (without data/) the role may read, e.g. secret/shop/web. */
  readonly secretPath: string;
}

/**
 * Enables `auth/kubernetes` pointing at this apiserver, with its CA and a token reviewer's token minted through
 * TokenRequest, then one role and policy for the service account.
 */
export async function configureKubernetesAuth(bao: OpenBao, plane: ControlPlane, spec: VaultRoleSpec): Promise<void> {
  await createNamespace(plane, 'openbao');
  await createServiceAccount(plane, 'openbao', 'token-reviewer');
  await plane.kubectl(['create', 'clusterrolebinding', 'openbao-token-reviewer', '--clusterrole=system:auth-delegator', '--serviceaccount=openbao:token-reviewer']);
  // A reviewer token for the apiserver's own audience (no --audience): it calls TokenReview.
  const reviewerToken = (await plane.kubectl(['create', 'token', 'token-reviewer', '-n', 'openbao', '--duration=2h'])).trim();
  await bao.api('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  await bao.api('POST', 'auth/kubernetes/config', {
    kubernetes_host: plane.server,
    kubernetes_ca_cert: readFileSync(plane.pki.ca.cert, 'utf8'),
    token_reviewer_jwt: reviewerToken,
  });
  const [mount, ...rest] = spec.secretPath.split('/');
  await writePolicy(bao, spec.role, `path "${mount ?? 'secret'}/data/${rest.join('/')}" { capabilities = ["read"] }\n`);
  await bao.api('POST', `auth/kubernetes/role/${spec.role}`, {
    bound_service_account_names: [spec.serviceAccount],
    bound_service_account_namespaces: [spec.namespace],
    audience: VAULT_AUDIENCE,
    token_policies: [spec.role],
    token_ttl: '1h',
  });
}

/** Writes a KV v2 secret (a new version when it exists). */
export async function putKv(bao: OpenBao, secretPath: string, data: Record<string, string>): Promise<void> {
  const [mount, ...rest] = secretPath.split('/');
  await bao.api('POST', `${mount ?? 'secret'}/data/${rest.join('/')}`, { data });
}

/** Creates or updates a Secrets Manager secret; returns the new version's ID. */
export async function putAwsSecret(moto: MotoServer, name: string, value: string): Promise<string> {
  const client = moto.secretsManager(AWS_REGION);
  try {
    return (await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }))).VersionId ?? '';
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
    return (await client.send(new CreateSecretCommand({ Name: name, SecretString: value }))).VersionId ?? '';
  }
}
