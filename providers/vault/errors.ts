/**
 * Vault's answers and transport failures as keymount error codes, with a
 * message for the pod's author. Vault's own error strings are kept (they
 * name the refused path or claim) as a short, sanitised excerpt: a hostile
 * server may echo the request, so tokens and token-like runs are removed
 * (client.ts already removed what the request carried) and the length is
 * capped. Request bodies, tokens and response data never reach a message.
 */
import {
  BackendAnswerTooLarge,
  KeymountError,
  MAX_BACKEND_TEXT_LENGTH,
  sanitizeBackendText,
  type ErrorCode,
} from '../../src/provider/contract.js';
import { VaultBadAnswer } from './client.js';

/** HTTP statuses a caller wants mapped differently (a login's 400 is a refusal, not a bad attribute). */
export type StatusCodeOverrides = Readonly<Partial<Record<number, ErrorCode>>>;

/** A failed Vault call, as far as it can be told from outside. */
export interface VaultFailure {
  /** The HTTP status, when Vault answered. */
  readonly status: number | undefined;
  /** Vault's error strings, tidied. */
  readonly messages: readonly string[];
  /** The socket or TLS error code (ECONNREFUSED, CERT_HAS_EXPIRED, …), when Vault was not reached. */
  readonly transportCode: string | undefined;
}

/** Vault's error strings kept for a message, at most. */
const MAX_MESSAGES = 5;

/** Statuses a retry may cure: sealed or standby servers, rate limits, consistency lag, server faults. */
function statusCode(status: number): ErrorCode {
  if (status === 400 || status === 405) return 'INVALID_ARGUMENT';
  if (status === 401 || status === 403) return 'PERMISSION_DENIED';
  if (status === 412 || status === 429 || status === 472 || status === 473 || status >= 500) return 'UNAVAILABLE';
  return 'FAILED_PRECONDITION';
}

const TLS_CODE = /^(?:CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_|EPROTO$|HOSTNAME_MISMATCH)/;

export function describeVaultFailure(error: unknown): VaultFailure | undefined {
  const response = (error as { response?: { statusCode?: unknown; body?: unknown } } | null)?.response;
  if (typeof response?.statusCode === 'number') {
    return { status: response.statusCode, messages: vaultMessages(response.body), transportCode: undefined };
  }
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  if (code !== undefined) return { status: undefined, messages: [], transportCode: code };
  return undefined;
}

/**
 * Turns any failure of a Vault call into a KeymountError. `what` says what was
 * being done ("reading secretPath \"secret/data/app\" for object \"db\""); the
 * address tells the admin which server. Unknown errors are returned as they
 * are, so the core reports them as INTERNAL with an incident ID.
 */
export function toKeymountError(error: unknown, what: string, address: string, overrides: StatusCodeOverrides = {}): unknown {
  if (error instanceof KeymountError) return error;
  if (error instanceof BackendAnswerTooLarge) {
    return new KeymountError(
      'RESOURCE_EXHAUSTED',
      `${what}: the Vault server at ${address} answered with ${error.describe()}, more than a volume can hold ` +
        '(--max-volume-size); keymount stopped reading and closed the connection. Store a smaller value or ask the admin to raise the limit',
    );
  }
  if (error instanceof VaultBadAnswer) {
    return new KeymountError('UNAVAILABLE', `${what}: the Vault server at ${address} answered ${error.status} with a body that is not JSON`);
  }
  const failure = describeVaultFailure(error);
  if (failure === undefined) return error;
  if (failure.status !== undefined) {
    const code = overrides[failure.status] ?? statusCode(failure.status);
    const joined = failure.messages.join('; ');
    const detail = joined === '' ? 'no details' : joined.length > MAX_BACKEND_TEXT_LENGTH ? `${joined.slice(0, MAX_BACKEND_TEXT_LENGTH)}…` : joined;
    const sealed = failure.messages.some((message) => /sealed/i.test(message));
    const hint = sealed ? ` (the Vault server at ${address} is sealed; an operator must unseal it)` : '';
    return new KeymountError(code, `${what}: Vault answered ${failure.status}: ${detail}${hint}`, { cause: failure });
  }
  const transportCode = failure.transportCode ?? 'unknown';
  if (TLS_CODE.test(transportCode)) {
    return new KeymountError(
      'FAILED_PRECONDITION',
      `${what}: TLS with the Vault server at ${address} failed (${transportCode}); the cluster admin must check the instance's caFile and tlsServerName`,
      { cause: failure },
    );
  }
  return new KeymountError('UNAVAILABLE', `${what}: cannot reach the Vault server at ${address} (${transportCode})`, { cause: failure });
}

function vaultMessages(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | null | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors
    .filter((item): item is string => typeof item === 'string')
    .slice(0, MAX_MESSAGES)
    .flatMap(tidy)
    .filter((text) => text !== '');
}

/** Vault wraps errors as "1 error occurred:\n\t* permission denied\n\n"; keep the bullet texts. */
function tidy(message: string): string[] {
  const bullets = message
    .slice(0, 16 * 1024)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^\d+ errors? occurred:?$/.test(line))
    .map((line) => line.replace(/^\* /, ''));
  return [sanitizeBackendText(bullets.join('; '))];
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}
