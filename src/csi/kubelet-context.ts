/**
 * What the kubelet puts in volume_context and secrets for an inline volume
 * (podInfoOnMount and tokenRequests on the CSIDriver), read into typed values.
 */
import { invalidArgument } from '../errors.js';
import { Sensitive, type PodIdentity, type ServiceAccountToken } from '../provider/contract.js';

/** A protobuf map<string, string> (volume_context, secrets) as the loader decodes it. */
export type StringMap = Record<string, string>;

export const POD_NAME = 'csi.storage.k8s.io/pod.name';
export const POD_NAMESPACE = 'csi.storage.k8s.io/pod.namespace';
export const POD_UID = 'csi.storage.k8s.io/pod.uid';
export const SERVICE_ACCOUNT_NAME = 'csi.storage.k8s.io/serviceAccount.name';
export const EPHEMERAL = 'csi.storage.k8s.io/ephemeral';
export const SERVICE_ACCOUNT_TOKENS = 'csi.storage.k8s.io/serviceAccount.tokens';

export function podIdentityFrom(context: StringMap): PodIdentity {
  const read = (key: string): string => {
    const value = context[key];
    if (value === undefined || value === '') {
      throw invalidArgument(
        `volume_context lacks ${key}: the CSIDriver object must set podInfoOnMount: true (keymount needs to know which pod the volume is for)`,
      );
    }
    return value;
  };
  return {
    name: read(POD_NAME),
    namespace: read(POD_NAMESPACE),
    uid: read(POD_UID),
    serviceAccountName: read(SERVICE_ACCOUNT_NAME),
  };
}

/**
 * The pod's service-account tokens by audience. Kubernetes 1.35+ may send
 * them in `secrets` (serviceAccountTokenInSecrets); older kubelets in
 * volume_context. A malformed value is reported without its content.
 */
export function serviceAccountTokensFrom(secrets: StringMap, context: StringMap): Map<string, ServiceAccountToken> {
  const raw = secrets[SERVICE_ACCOUNT_TOKENS] ?? context[SERVICE_ACCOUNT_TOKENS];
  const tokens = new Map<string, ServiceAccountToken>();
  if (raw === undefined || raw === '') return tokens;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`${SERVICE_ACCOUNT_TOKENS} is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidArgument(`${SERVICE_ACCOUNT_TOKENS} must be a JSON object keyed by audience`);
  }
  for (const [audience, entry] of Object.entries(parsed as Record<string, unknown>)) {
    const { token, expirationTimestamp } = (entry ?? {}) as { token?: unknown; expirationTimestamp?: unknown };
    if (typeof token !== 'string' || token === '') {
      throw invalidArgument(`${SERVICE_ACCOUNT_TOKENS} has no token for audience "${audience}"`);
    }
    const expiresAt = typeof expirationTimestamp === 'string' ? new Date(expirationTimestamp) : undefined;
    tokens.set(audience, {
      token: new Sensitive(token),
      expiresAt: expiresAt !== undefined && !Number.isNaN(expiresAt.getTime()) ? expiresAt : undefined,
    });
  }
  return tokens;
}
