/**
 * The SDK's HTTP handler, bounded: every attempt has a total deadline (the
 * caller's abort signal, and a per-attempt cap) that covers the answer's
 * body too, and the body is counted as it streams and the connection closed
 * past the size limit. The SDK's own handler stops watching its abort signal
 * and its request timeout once the headers arrive (the body is read later by
 * the deserializer), so a server that trickles its body, or sends 300 MB of
 * it, would otherwise hold the socket or fill the driver's memory.
 *
 * Error answers are read here whole (they are capped much lower) and handed
 * on with whatever the request carried (the pod's web-identity token, the
 * session token, the signature) removed: a hostile endpoint may echo them.
 */
import { Readable, Transform, pipeline } from 'node:stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  BackendAnswerTooLarge,
  FETCH_ANSWER_BUDGET_FACTOR,
  MAX_ERROR_ANSWER_BYTES,
  redactRequestSecrets,
  spendAnswerBytes,
} from '../../src/provider/contract.js';

type HandleArguments = Parameters<NodeHttpHandler['handle']>;
type HttpRequest = HandleArguments[0];
type HandlerOptions = NonNullable<HandleArguments[1]>;
type Handled = Awaited<ReturnType<NodeHttpHandler['handle']>>;

export interface CappedHandlerOptions {
  readonly connectionTimeoutMs: number;
  /** The longest one attempt may take, body included. */
  readonly attemptTimeoutMs: number;
  readonly maxAnswerBytes: number;
}

/** Headers whose values are credentials. */
const SECRET_HEADERS = ['authorization', 'x-amz-security-token'];
/** Form fields (STS's query protocol) whose values are credentials. */
const SECRET_FIELDS = ['WebIdentityToken'];

export class CappedRequestHandler {
  readonly #inner: NodeHttpHandler;

  constructor(private readonly options: CappedHandlerOptions) {
    this.#inner = new NodeHttpHandler({ connectionTimeout: options.connectionTimeoutMs, requestTimeout: options.attemptTimeoutMs });
  }

  get metadata(): NodeHttpHandler['metadata'] {
    return this.#inner.metadata;
  }

  destroy(): void {
    this.#inner.destroy();
  }

  updateHttpClientConfig(...args: Parameters<NodeHttpHandler['updateHttpClientConfig']>): void {
    this.#inner.updateHttpClientConfig(...args);
  }

  httpHandlerConfigs(): ReturnType<NodeHttpHandler['httpHandlerConfigs']> {
    return this.#inner.httpHandlerConfigs();
  }

  async handle(request: HttpRequest, handlerOptions: HandlerOptions = {}): Promise<Handled> {
    const attemptTimeout = AbortSignal.timeout(this.options.attemptTimeoutMs);
    const callerSignal = handlerOptions.abortSignal as AbortSignal | undefined;
    const deadline = callerSignal === undefined ? attemptTimeout : AbortSignal.any([callerSignal, attemptTimeout]);
    const timedOut = (): boolean => attemptTimeout.aborted && callerSignal?.aborted !== true;
    let handled: Handled;
    try {
      handled = await this.#inner.handle(request, { ...handlerOptions, abortSignal: deadline });
    } catch (error) {
      throw timedOut() ? attemptTimeoutError() : error;
    }
    const { response } = handled;
    const body = response.body as Readable;
    const success = response.statusCode >= 200 && response.statusCode < 300;
    const limit = success ? this.options.maxAnswerBytes : MAX_ERROR_ANSWER_BYTES;
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      body.destroy();
      throw new BackendAnswerTooLarge(limit, response.statusCode);
    }
    const { maxAnswerBytes } = this.options;
    // Calls of one fetch share its signal, and with it a budget for their answers together.
    const spend = (bytes: number): boolean => callerSignal === undefined || spendAnswerBytes(callerSignal, bytes, maxAnswerBytes);
    const counted = countedBody(body, { limit, budget: maxAnswerBytes * FETCH_ANSWER_BUDGET_FACTOR, spend, status: response.statusCode }, deadline, timedOut);
    response.body = success ? counted : await redactedErrorBody(counted, requestSecrets(request));
    return handled;
  }
}

/**
 * The body as a stream that fails, and destroys the socket, once more than
 * `limit` bytes have come or the deadline passes.
 */
interface BodyLimits {
  readonly limit: number;
  /** The fetch's budget, for the message, and what counts against it. */
  readonly budget: number;
  readonly spend: (bytes: number) => boolean;
  readonly status: number;
}

function countedBody(body: Readable, limits: BodyLimits, deadline: AbortSignal, timedOut: () => boolean): Readable {
  const { limit, budget, spend, status } = limits;
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.byteLength;
      if (received > limit) callback(new BackendAnswerTooLarge(limit, status));
      else if (!spend(chunk.byteLength)) callback(new BackendAnswerTooLarge(budget, status, 'fetch'));
      else callback(null, chunk);
    },
  });
  const onAbort = (): void => {
    counter.destroy(timedOut() ? attemptTimeoutError() : abortError(deadline));
  };
  // pipeline() destroys the source (and with it the socket) when the counter fails or is destroyed.
  pipeline(body, counter, () => {
    deadline.removeEventListener('abort', onAbort);
  });
  if (deadline.aborted) onAbort();
  else deadline.addEventListener('abort', onAbort, { once: true });
  return counter;
}

async function redactedErrorBody(body: Readable, secrets: readonly string[]): Promise<Readable> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Readable.from([Buffer.from(redactRequestSecrets(Buffer.concat(chunks).toString('utf8'), secrets), 'utf8')]);
}

function requestSecrets(request: HttpRequest): string[] {
  const secrets: string[] = [];
  for (const [name, value] of Object.entries(request.headers)) {
    if (!SECRET_HEADERS.includes(name.toLowerCase())) continue;
    secrets.push(value);
    // The signature on its own, as an echo might quote just that part of the authorization header.
    const signature = /Signature=([0-9a-f]+)/.exec(value)?.[1];
    if (signature !== undefined) secrets.push(signature);
  }
  const body: unknown = request.body;
  if (typeof body === 'string') {
    const form = new URLSearchParams(body);
    for (const field of SECRET_FIELDS) {
      const value = form.get(field);
      if (value !== null) secrets.push(value);
    }
  }
  return secrets;
}

/** A per-attempt timeout, named as the SDK names its own, so errors.ts treats it as worth a retry. */
function attemptTimeoutError(): Error {
  return Object.assign(new Error('the AWS call took longer than its attempt timeout'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('the AWS call was aborted'), { name: 'AbortError' });
}
