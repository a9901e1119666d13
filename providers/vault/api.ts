/**
 * The Vault endpoints keymount uses, over a VaultTransport: every call is
 * given the caller's AbortSignal (and races it, for a transport that ignores
 * it) and is retried with backoff while it fails with UNAVAILABLE, a bounded
 * number of times so the caller still gets UNAVAILABLE, not a deadline, from
 * a sealed server.
 */
import { KeymountError, Sensitive, sanitizeBackendText } from '../../src/provider/contract.js';
import { requestSecrets, type VaultCall, type VaultTransport } from './client.js';
import { toKeymountError, type StatusCodeOverrides } from './errors.js';

/** Waits before the 2nd and 3rd attempt. */
export const RETRY_DELAYS_MS: readonly number[] = [250, 1000];

/** A token Vault handed out (login or renewal). */
export interface TokenGrant {
  readonly token: Sensitive<string>;
  readonly accessor: string | undefined;
  /** Seconds; 0 means the token never expires. */
  readonly ttlSeconds: number;
  readonly renewable: boolean;
}

/** A secret response: lease fields plus the engine's data. */
export interface SecretResponse {
  readonly leaseId: string;
  readonly leaseDurationSeconds: number;
  readonly renewable: boolean;
  readonly data: unknown;
  readonly warnings: readonly string[];
}

export interface LeaseGrant {
  readonly leaseDurationSeconds: number;
  readonly renewable: boolean;
}

/** Which engine serves a path, from sys/internal/ui/mounts (what the Vault CLI asks too). */
export interface MountInfo {
  /** The mount's path with its trailing slash, e.g. "secret/". */
  readonly path: string;
  readonly type: string;
  /** options.version of a kv mount ("1" or "2"). */
  readonly version: string | undefined;
}

export interface CallContext {
  /** What the call is for, for messages ("reading secretPath \"x\" for object \"y\""). */
  readonly what: string;
  readonly overrides?: StatusCodeOverrides;
}

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export class VaultApi {
  constructor(
    private readonly transport: VaultTransport,
    /** The server's address, for messages. */
    readonly address: string,
    private readonly sleep: Sleep = abortableSleep,
  ) {}

  async login(mountPath: string, body: Readonly<Record<string, unknown>>, signal: AbortSignal, what: string): Promise<TokenGrant> {
    const answer = await this.call({ method: 'POST', path: `auth/${mountPath}/login`, body }, signal, {
      what,
      // The JWT and Kubernetes methods answer 400 for a token or role they refuse.
      overrides: { 400: 'PERMISSION_DENIED' },
    });
    return tokenGrant(answer, what);
  }

  async lookupSelf(token: Sensitive<string>, signal: AbortSignal, what: string): Promise<TokenGrant> {
    const answer = await this.call({ method: 'GET', path: 'auth/token/lookup-self', token }, signal, { what });
    const data = record(record(answer).data);
    return {
      token,
      accessor: typeof data.accessor === 'string' ? data.accessor : undefined,
      ttlSeconds: typeof data.ttl === 'number' ? data.ttl : 0,
      renewable: data.renewable === true,
    };
  }

  async renewSelf(token: Sensitive<string>, incrementSeconds: number, signal: AbortSignal): Promise<TokenGrant> {
    const what = 'renewing the Vault token';
    const body = incrementSeconds > 0 ? { increment: `${incrementSeconds}s` } : {};
    const answer = await this.call({ method: 'POST', path: 'auth/token/renew-self', token, body }, signal, { what });
    return tokenGrant(answer, what);
  }

  async revokeSelf(token: Sensitive<string>, signal: AbortSignal): Promise<void> {
    await this.call({ method: 'POST', path: 'auth/token/revoke-self', token }, signal, { what: 'revoking the Vault token' });
  }

  async renewLease(token: Sensitive<string>, leaseId: string, incrementSeconds: number, signal: AbortSignal): Promise<LeaseGrant> {
    const answer = record(
      await this.call({ method: 'POST', path: 'sys/leases/renew', token, body: { lease_id: leaseId, increment: incrementSeconds } }, signal, {
        what: 'renewing a lease',
      }),
    );
    return {
      leaseDurationSeconds: typeof answer.lease_duration === 'number' ? answer.lease_duration : 0,
      renewable: answer.renewable === true,
    };
  }

  async revokeLease(token: Sensitive<string>, leaseId: string, signal: AbortSignal): Promise<void> {
    await this.call({ method: 'POST', path: 'sys/leases/revoke', token, body: { lease_id: leaseId } }, signal, { what: 'revoking a lease' });
  }

  /** The mount serving `path`, or undefined when Vault does not say (no access, older server). */
  async mountInfo(path: string, token: Sensitive<string>, signal: AbortSignal): Promise<MountInfo | undefined> {
    try {
      const data = record(record(await this.call({ method: 'GET', path: `sys/internal/ui/mounts/${path}`, token }, signal, { what: 'looking up the mount' })).data);
      const options = record(data.options);
      if (typeof data.path !== 'string' || typeof data.type !== 'string') return undefined;
      return { path: data.path, type: data.type, version: typeof options.version === 'string' ? options.version : undefined };
    } catch (error) {
      // Only an unreachable server matters here; the secret's own read reports anything else precisely.
      if (error instanceof KeymountError && error.code === 'UNAVAILABLE') throw error;
      return undefined;
    }
  }

  async readSecret(call: VaultCall, signal: AbortSignal, what: string): Promise<SecretResponse> {
    const answer = record(await this.call(call, signal, { what }));
    return {
      leaseId: typeof answer.lease_id === 'string' ? answer.lease_id : '',
      leaseDurationSeconds: typeof answer.lease_duration === 'number' ? answer.lease_duration : 0,
      renewable: answer.renewable === true,
      data: answer.data,
      warnings: backendWarnings(answer.warnings, call),
    };
  }

  /** One call with retries for UNAVAILABLE; stops waiting as soon as the signal aborts. */
  async call(call: VaultCall, signal: AbortSignal, context: CallContext): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      try {
        return await raceAbort(this.transport.send(call, signal), signal);
      } catch (error) {
        if (signal.aborted) throw abortedError(context.what, signal);
        const mapped = toKeymountError(error, context.what, this.address, context.overrides);
        const delay = RETRY_DELAYS_MS[attempt];
        if (!(mapped instanceof KeymountError) || mapped.code !== 'UNAVAILABLE' || delay === undefined) throw mapped;
        try {
          await this.sleep(delay, signal);
        } catch {
          // Aborted while backing off: the last real failure says more than the abort.
          throw mapped;
        }
      }
    }
  }
}

/** Resolves or rejects with the promise, or rejects as soon as the signal aborts (the promise is left to settle unobserved). */
export async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    throw abortedError('the Vault call', signal);
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      reject(abortedError('the Vault call', signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    promise.catch(() => undefined);
  }
}

export async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError('waiting to retry', signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortedError(what: string, signal: AbortSignal): KeymountError {
  const reason: unknown = signal.reason;
  if (reason instanceof KeymountError) return reason;
  return new KeymountError('DEADLINE_EXCEEDED', `${what}: gave up, the request's deadline passed`);
}

function tokenGrant(answer: unknown, what: string): TokenGrant {
  const auth = record(record(answer).auth);
  if (typeof auth.client_token !== 'string' || auth.client_token === '') {
    throw new KeymountError('UNAVAILABLE', `${what}: Vault answered without a client token`);
  }
  return {
    token: new Sensitive(auth.client_token),
    accessor: typeof auth.accessor === 'string' ? auth.accessor : undefined,
    ttlSeconds: typeof auth.lease_duration === 'number' ? auth.lease_duration : 0,
    renewable: auth.renewable === true,
  };
}

/** Vault's warnings, a few, sanitised like its errors: they end up in log lines. */
export function backendWarnings(warnings: unknown, call: VaultCall): string[] {
  if (!Array.isArray(warnings)) return [];
  const secrets = requestSecrets(call);
  return warnings
    .filter((item): item is string => typeof item === 'string')
    .slice(0, MAX_WARNINGS)
    .map((warning) => sanitizeBackendText(warning, secrets));
}

const MAX_WARNINGS = 5;

export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
