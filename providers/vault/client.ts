/**
 * The HTTP side of talking to Vault, behind a small interface so tests and
 * other Vault-backed types can swap it. The default implementation speaks
 * HTTP with Node's own client, so that every call is cancelled for real (the
 * socket is destroyed) when its deadline passes, body included, and an
 * answer is read only up to a size limit: a hostile or broken server can
 * neither hold a socket open by trickling nor fill the driver's memory.
 * Every setting is explicit; nothing comes from VAULT_* environment variables.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  BackendAnswerTooLarge,
  FETCH_ANSWER_BUDGET_FACTOR,
  MAX_ERROR_ANSWER_BYTES,
  redactRequestSecrets,
  spendAnswerBytes,
  type Sensitive,
} from '../../src/provider/contract.js';

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
  /** The call is cancelled, and its connection closed, as soon as `signal` aborts. */
  send(call: VaultCall, signal: AbortSignal): Promise<unknown>;
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
  /** Upper bound of one HTTP exchange, answer included, so an unanswered call does not linger after its fetch gave up. */
  readonly timeoutMs: number;
  /** The most bytes a successful answer may have; the connection is closed past it. */
  readonly maxAnswerBytes: number;
}

/** Builds the transport of one instance at create() time. */
export type VaultClientFactory = (options: VaultClientOptions) => VaultTransport;

/** Vault answered with a status other than 2xx; `response` has the shape errors.ts reads. */
export class VaultHttpError extends Error {
  override readonly name = 'VaultHttpError';
  readonly response: { readonly statusCode: number; readonly body: { readonly errors: readonly string[] } };
  constructor(statusCode: number, errors: readonly string[]) {
    super(`Vault answered ${statusCode}`);
    this.response = { statusCode, body: { errors } };
  }
}

/** Vault answered 2xx with a body that is not JSON. */
export class VaultBadAnswer extends Error {
  override readonly name = 'VaultBadAnswer';
  constructor(readonly status: number) {
    super(`Vault answered ${status} with a body that is not JSON`);
  }
}

/** Vault's error answers are a JSON object with an "errors" list; at most this many of them are kept. */
const MAX_ERROR_MESSAGES = 5;

export const httpVaultClientFactory: VaultClientFactory = (options) => {
  const base = new URL(options.endpoint);
  const https = base.protocol === 'https:';
  // Keep-alive: refreshes reuse connections. TLS settings live on the agent so pooled sockets share them.
  const agent = https
    ? new HttpsAgent({
        keepAlive: true,
        rejectUnauthorized: options.rejectUnauthorized,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.cert !== undefined ? { cert: options.cert } : {}),
        ...(options.key !== undefined ? { key: options.key } : {}),
        ...(options.serverName !== undefined ? { servername: options.serverName } : {}),
      })
    : new HttpAgent({ keepAlive: true });
  const send = https ? httpsRequest : httpRequest;
  const basePath = base.pathname.replace(/\/+$/, '');
  return {
    send(call, signal) {
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]);
      const body = call.method === 'POST' ? Buffer.from(JSON.stringify(call.body ?? {}), 'utf8') : undefined;
      const headers: Record<string, string | number> = { accept: 'application/json' };
      // A fresh headers object per call: a token must never stick to the client.
      if (call.token !== undefined) headers['x-vault-token'] = call.token.reveal();
      if (options.namespace !== undefined) headers['x-vault-namespace'] = options.namespace;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = body.byteLength;
      }
      const request: RequestOptions = {
        agent,
        method: call.method,
        protocol: base.protocol,
        hostname: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port,
        // The path is passed as it is: no URL parsing that would resolve "..".
        path: `${basePath}/v1/${call.path}`,
        headers,
      };
      return exchange((callback) => send(request, callback), body, deadline, {
        maxAnswerBytes: options.maxAnswerBytes,
        // The fetch's own signal, not the per-call deadline: the budget is shared by every call of the fetch.
        spend: (bytes) => spendAnswerBytes(signal, bytes, options.maxAnswerBytes),
        requestSecrets: requestSecrets(call),
      });
    },
  };
};

interface ExchangeLimits {
  readonly maxAnswerBytes: number;
  /** Counts bytes against the fetch's budget; false once it is spent. */
  readonly spend: (bytes: number) => boolean;
  /** What the request carried that an echoing server must not get into a message. */
  readonly requestSecrets: readonly string[];
}

/** One request and its whole answer, within `deadline` and the size limits. */
function exchange(
  start: (callback: (response: IncomingMessage) => void) => ClientRequest,
  body: Buffer | undefined,
  deadline: AbortSignal,
  limits: ExchangeLimits,
): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    if (deadline.aborted) {
      reject(abortReason(deadline));
      return;
    }
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      deadline.removeEventListener('abort', onAbort);
      outcome();
    };
    // Destroying the request destroys its socket, whether the answer has started or not.
    const fail = (error: Error): void => {
      finish(() => {
        reject(error);
      });
      request.destroy();
    };
    const onAbort = (): void => {
      fail(abortReason(deadline));
    };
    const request = start((response) => {
      const status = response.statusCode ?? 0;
      const success = status >= 200 && status < 300;
      const limit = success ? limits.maxAnswerBytes : MAX_ERROR_ANSWER_BYTES;
      const declared = Number(response.headers['content-length']);
      const chunks: Buffer[] = [];
      let received = 0;
      const tooLarge = (): void => {
        // An error answer too long to read still has a meaningful status.
        fail(success ? new BackendAnswerTooLarge(limit, status) : new VaultHttpError(status, [`(an error text of more than ${limit} bytes, not read)`]));
      };
      if (Number.isFinite(declared) && declared > limit) {
        tooLarge();
        return;
      }
      response.on('data', (chunk: Buffer) => {
        received += chunk.byteLength;
        if (received > limit) {
          tooLarge();
          return;
        }
        if (!limits.spend(chunk.byteLength)) {
          fail(new BackendAnswerTooLarge(limits.maxAnswerBytes * FETCH_ANSWER_BUDGET_FACTOR, status, 'fetch'));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('close', () => {
        if (!response.complete) fail(Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' }));
      });
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const outcome = success ? parseAnswer(text, status) : new VaultHttpError(status, errorMessages(text, limits.requestSecrets));
        finish(() => {
          if (outcome instanceof Error) reject(outcome);
          else resolve(outcome.value);
        });
      });
    });
    request.on('error', fail);
    deadline.addEventListener('abort', onAbort, { once: true });
    request.end(body);
  });
}

/** A 2xx answer's JSON (undefined for an empty body, as for 204). */
function parseAnswer(text: string, status: number): { value: unknown } | VaultBadAnswer {
  if (text.trim() === '') return { value: undefined };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return new VaultBadAnswer(status);
  }
}

/** The abort reason as the error to throw: a KeymountError from the caller as it is, the per-call timeout as ETIMEDOUT. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'TimeoutError') return reason;
  return Object.assign(new Error('the Vault call took longer than its request timeout'), { code: 'ETIMEDOUT' });
}

/** Vault's "errors" strings, with whatever the request carried removed (a hostile server may echo it). */
function errorMessages(text: string, secrets: readonly string[]): string[] {
  let errors: unknown;
  try {
    errors = (JSON.parse(text) as { errors?: unknown } | null)?.errors;
  } catch {
    return [];
  }
  if (!Array.isArray(errors)) return [];
  return errors
    .filter((item): item is string => typeof item === 'string')
    .slice(0, MAX_ERROR_MESSAGES)
    .map((message) => redactRequestSecrets(message, secrets));
}

/** Body fields that carry credentials (logins); other fields (names, paths) are the pod's own words and may be quoted. */
const SECRET_BODY_FIELDS = new Set(['jwt', 'secret_id', 'role_id', 'password', 'token', 'client_token']);

/** The token and the credentials of the body (a login's JWT, an AppRole's IDs). */
export function requestSecrets(call: VaultCall): string[] {
  const secrets = call.token === undefined ? [] : [call.token.reveal()];
  for (const [field, value] of Object.entries(call.body ?? {})) {
    if (SECRET_BODY_FIELDS.has(field) && typeof value === 'string') secrets.push(value);
  }
  return secrets;
}
