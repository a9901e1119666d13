/**
 * Whose AWS credentials a fetch uses. IRSA: the pod's own service-account
 * token is exchanged with STS AssumeRoleWithWebIdentity for the role the pod
 * names; AWS checks the role's trust policy against the token's subject, so a
 * pod cannot borrow another pod's role. Node: the driver's own credentials.
 *
 * STS answers are cached until shortly before they expire, keyed by role,
 * token subject *and* a hash of the token itself: the subject is read here
 * without checking the signature (STS does that), so a cache keyed on the
 * subject alone would hand a forged token the credentials STS gave a real
 * one. The kubelet sends the same token on every republish until it renews
 * it, so refreshes still hit the cache.
 */
import { createHash } from 'node:crypto';
import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import {
  failedPrecondition,
  invalidArgument,
  unavailable,
  type Clock,
  type PodIdentity,
  type ServiceAccountToken,
} from '../../src/provider/contract.js';
import type { AwsCredentials, AwsIdentity, ClientPool } from './clients.js';
import { awsError, isRetryable } from './errors.js';
import { withRetries, type RetryPolicy } from './retry.js';
import type { AwsAuth } from './settings.js';

/** Credentials are renewed this long before STS says they expire (or at half their life, if that is sooner). */
const RENEW_BEFORE_EXPIRY_MS = 5 * 60_000;
const MAX_CACHED_IDENTITIES = 1_024;
/** STS RoleSessionName: 2–64 of [\w+=,.@-]. */
const MAX_SESSION_NAME_LENGTH = 64;

export interface IdentityRequest {
  readonly roleArn: string | undefined;
  readonly pod: PodIdentity;
  readonly tokens: ReadonlyMap<string, ServiceAccountToken>;
  /** The volume's region first, then its failover region: STS is tried in that order. */
  readonly regions: readonly string[];
}

/** A resolved identity plus what forget() needs to drop it. */
export interface ResolvedIdentity extends AwsIdentity {
  readonly cacheKey?: string;
}

interface CachedIdentity {
  readonly identity: ResolvedIdentity;
  readonly renewAt: number;
}

export class IdentityResolver {
  readonly #cache = new Map<string, CachedIdentity>();

  constructor(
    private readonly auth: AwsAuth,
    private readonly pool: ClientPool,
    private readonly clock: Clock,
    private readonly retry: RetryPolicy,
  ) {}

  async resolve(request: IdentityRequest, signal: AbortSignal): Promise<ResolvedIdentity> {
    if (this.auth.type === 'node') return {};
    const { audience } = this.auth;
    const token = request.tokens.get(audience);
    if (token === undefined) {
      throw failedPrecondition(
        `the pod's service-account token for audience "${audience}" is missing: the CSIDriver object must list ` +
          `{audience: "${audience}"} in spec.tokenRequests so the kubelet sends it`,
      );
    }
    if (request.roleArn === undefined) throw invalidArgument('attribute "roleArn" is required');
    const jwt = token.token.reveal();
    const subject = jwtSubject(jwt, audience);
    const cacheKey = createHash('sha256').update(`${request.roleArn}\0${subject}\0${jwt}`).digest('hex');
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined && cached.renewAt > this.clock.now().getTime()) return cached.identity;
    return this.#assumeRole({ ...request, roleArn: request.roleArn, jwt, subject, cacheKey }, signal);
  }

  /** Drops cached credentials that AWS may have stopped accepting (called when a fetch with them failed). */
  forget(identity: ResolvedIdentity): void {
    if (identity.cacheKey !== undefined) this.#cache.delete(identity.cacheKey);
  }

  async #assumeRole(
    exchange: IdentityRequest & { roleArn: string; jwt: string; subject: string; cacheKey: string },
    signal: AbortSignal,
  ): Promise<ResolvedIdentity> {
    const { roleArn, jwt, subject, cacheKey, pod, regions } = exchange;
    const audience = this.auth.type === 'irsa' ? this.auth.audience : '';
    let lastError: unknown = unavailable('no region to call STS in');
    for (const region of regions) {
      const call = {
        service: 'STS',
        region,
        subject: `role "${roleArn}"`,
        deniedHint:
          `the role's trust policy must allow sts:AssumeRoleWithWebIdentity for this cluster's OIDC provider ` +
          `with audience "${audience}" and subject "${subject}"`,
      };
      try {
        const output = await withRetries(
          () =>
            this.pool.sts(region).send(
              new AssumeRoleWithWebIdentityCommand({ RoleArn: roleArn, RoleSessionName: sessionName(pod), WebIdentityToken: jwt }),
              { abortSignal: signal },
            ),
          (error) => awsError(error, call),
          signal,
          this.retry,
        );
        const credentials = toCredentials(output.Credentials);
        if (credentials === undefined) throw unavailable(`STS in ${region} answered AssumeRoleWithWebIdentity without credentials`);
        const identity: ResolvedIdentity = { credentials, cacheKey };
        this.#remember(cacheKey, identity, credentials.expiration);
        return identity;
      } catch (error) {
        // Only an outage moves on to the failover region; a refusal would be the same there.
        if (!isRetryable(error)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  #remember(cacheKey: string, identity: ResolvedIdentity, expiration: Date | undefined): void {
    if (expiration === undefined) return;
    const now = this.clock.now().getTime();
    const lifetime = expiration.getTime() - now;
    const renewAt = expiration.getTime() - Math.min(RENEW_BEFORE_EXPIRY_MS, lifetime / 2);
    if (renewAt <= now) return;
    for (const [key, entry] of this.#cache) {
      if (entry.renewAt <= now) this.#cache.delete(key);
    }
    this.#cache.set(cacheKey, { identity, renewAt });
    // Oldest first: Map keeps insertion order.
    for (const key of this.#cache.keys()) {
      if (this.#cache.size <= MAX_CACHED_IDENTITIES) break;
      this.#cache.delete(key);
    }
  }
}

/** The token's `sub` claim (e.g. system:serviceaccount:shop:web), read without verification: STS verifies. */
export function jwtSubject(jwt: string, audience: string): string {
  const payload = jwt.split('.')[1];
  let subject: unknown;
  try {
    subject = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as { sub?: unknown }).sub;
  } catch {
    subject = undefined;
  }
  if (typeof subject !== 'string' || subject === '' || jwt.split('.').length !== 3) {
    throw invalidArgument(`the service-account token for audience "${audience}" is not a JWT with a "sub" claim`);
  }
  return subject;
}

/** "<namespace>.<pod>", which CloudTrail shows as the session of every call made for the pod. */
function sessionName(pod: PodIdentity): string {
  const name = `${pod.namespace}.${pod.name}`.replace(/[^\w+=,.@-]/g, '-').slice(0, MAX_SESSION_NAME_LENGTH);
  return name.length >= 2 ? name : `${name}--`;
}

function toCredentials(
  credentials: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date } | undefined,
): AwsCredentials | undefined {
  const { AccessKeyId, SecretAccessKey, SessionToken, Expiration } = credentials ?? {};
  if (!AccessKeyId || !SecretAccessKey) return undefined;
  return { accessKeyId: AccessKeyId, secretAccessKey: SecretAccessKey, sessionToken: SessionToken, expiration: Expiration };
}
