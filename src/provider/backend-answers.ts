/**
 * What providers need to treat a backend as untrusted: a cap on the size of
 * its answers, and a sanitiser for its error text. A backend may be hostile
 * (a pod can store a 300 MB value, or point at a server that echoes what it
 * was sent), so neither its size nor its words are taken as they come.
 */

/** Room for what wraps a volume's bytes in an answer: JSON framing, field names, lease data. */
const FRAMING_ALLOWANCE_BYTES = 64 * 1024;

/**
 * The most bytes one backend answer may have for a volume of at most
 * `maxVolumeSizeBytes`: the volume's bytes, base64-encoded (how binary
 * values travel), plus framing. A larger answer could never fit the volume.
 */
export function backendAnswerLimit(maxVolumeSizeBytes: number): number {
  return Math.ceil((maxVolumeSizeBytes * 4) / 3) + FRAMING_ALLOWANCE_BYTES;
}

/** The limit for --max-volume-size's default (4Mi), for providers built without one. */
export const DEFAULT_BACKEND_ANSWER_LIMIT = backendAnswerLimit(4 * 1024 * 1024);

/**
 * The answers of one fetch together may have at most this many times the
 * limit of one answer: a volume of many objects, each just under the limit,
 * must not add up to hundreds of MB in memory before the core can see that
 * the volume cannot hold them.
 */
export const FETCH_ANSWER_BUDGET_FACTOR = 4;

/** Bytes already received per fetch, keyed by the fetch's AbortSignal (one per fetch, shared by all its calls). */
const spentBySignal = new WeakMap<AbortSignal, number>();

/**
 * Counts `bytes` of an answer against the budget of the fetch that `signal`
 * belongs to; false once that fetch's answers together pass
 * FETCH_ANSWER_BUDGET_FACTOR × `maxAnswerBytes`. The calls of one fetch share
 * its signal, so the budget needs no other bookkeeping and ends with it.
 */
export function spendAnswerBytes(signal: AbortSignal, bytes: number, maxAnswerBytes: number): boolean {
  const spent = (spentBySignal.get(signal) ?? 0) + bytes;
  spentBySignal.set(signal, spent);
  return spent <= maxAnswerBytes * FETCH_ANSWER_BUDGET_FACTOR;
}

/** Error answers carry a sentence or two; more than this is not read. */
export const MAX_ERROR_ANSWER_BYTES = 64 * 1024;

/** The most characters of a backend's own text that reach a message or a log line. */
export const MAX_BACKEND_TEXT_LENGTH = 200;

const REDACTED = '[REDACTED]';
/** Secrets shorter than this are not searched for: they would match ordinary words. */
const MIN_SECRET_LENGTH = 8;
/** Only this much of a backend's text is looked at, so sanitising stays cheap whatever it sent. */
const MAX_SCANNED_LENGTH = 16 * 1024;
/**
 * Long runs of token characters: JWTs, Vault and AWS tokens, signatures, base64
 * blobs. Whatever the request carried in a form not listed below (re-encoded,
 * cut in pieces), a token-sized run of it is removed here. Runs in lower case
 * without a long hex part are kept: those are host names and paths
 * ("payments-api.payments.svc.cluster.local"), which the message needs.
 */
const TOKEN_RUN = /[A-Za-z0-9+/=_\-.%~]{40,}/g;
const TOKEN_LIKE = /[A-Z+=%~]|[0-9a-f]{32}/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/**
 * A backend's error text made safe to show a pod's author and to log: every
 * secret the request carried (token, JWT, credentials; also URL-, base64- and
 * JSON-encoded, and each part of a JWT) and every token-like run replaced,
 * control characters turned into spaces, and the result cut to
 * MAX_BACKEND_TEXT_LENGTH characters.
 */
export function sanitizeBackendText(text: string, requestSecrets: Iterable<string> = [], maxLength = MAX_BACKEND_TEXT_LENGTH): string {
  const result = redactRequestSecrets(text, requestSecrets).replace(TOKEN_RUN, (run) => (TOKEN_LIKE.test(run) ? REDACTED : run)).replace(CONTROL, ' ').replace(/\s{2,}/g, ' ').trim();
  return result.length > maxLength ? `${result.slice(0, maxLength)}…` : result;
}

/**
 * Only the first step of sanitizeBackendText(): the request's secrets, in
 * every form listed there, replaced; the text is cut to what is scanned but
 * otherwise kept (line breaks included) for a transport that parses it further.
 */
export function redactRequestSecrets(text: string, requestSecrets: Iterable<string>): string {
  let result = text.length > MAX_SCANNED_LENGTH ? text.slice(0, MAX_SCANNED_LENGTH) : text;
  for (const needle of secretForms(requestSecrets)) result = result.split(needle).join(REDACTED);
  return result;
}

/** The forms a secret may take in an echo, longest first so a longer form is replaced whole. */
function secretForms(secrets: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    const parts = [secret, ...secret.split('.')];
    for (const part of parts) {
      if (part.length < MIN_SECRET_LENGTH) continue;
      forms.add(part);
      forms.add(encodeURIComponent(part));
      forms.add(JSON.stringify(part).slice(1, -1));
      forms.add(Buffer.from(part, 'utf8').toString('base64'));
      forms.add(Buffer.from(part, 'utf8').toString('base64url'));
    }
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * An answer was larger than `limitBytes` (scope "answer"), or the answers of
 * one fetch together were (scope "fetch"): the transport stopped reading and
 * closed the connection.
 */
export class BackendAnswerTooLarge extends Error {
  override readonly name = 'BackendAnswerTooLarge';
  constructor(
    readonly limitBytes: number,
    /** The HTTP status the oversized answer came with. */
    readonly status: number,
    readonly scope: 'answer' | 'fetch' = 'answer',
  ) {
    super(`the ${scope === 'answer' ? 'answer' : "fetch's answers together"} exceeded ${limitBytes} bytes`);
  }

  /** "answered with more than N bytes" / "answered … with more than N bytes in all", for messages. */
  describe(): string {
    return this.scope === 'answer' ? `more than ${this.limitBytes} bytes` : `more than ${this.limitBytes} bytes for this volume in all`;
  }
}
