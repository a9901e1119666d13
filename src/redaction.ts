import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A value that must never be printed: tokens, request secrets, passwords.
 * Serialising, inspecting or string-converting it yields "[REDACTED]"; only an
 * explicit reveal() gives the value, so a stray log line or error message
 * cannot leak it.
 */
export class Sensitive<T> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toJSON(): string {
    return REDACTED;
  }
  toString(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Keys whose values are never logged, whatever they hold. */
const SENSITIVE_KEY = /secret|token|password|passphrase|private|contents|credential|^key$|jwt|authorization/i;
const MAX_DEPTH = 8;

/**
 * Deep copy of a log record with sensitive fields replaced. It runs on every
 * log record (pino's log formatter), so redaction does not depend on each
 * call site remembering what it may print.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Sensitive) return REDACTED;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (value instanceof Error) return redactError(value, depth);
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item: unknown) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? REDACTED : redact(item, depth + 1);
  }
  return out;
}

function redactError(error: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { type: error.name, message: error.message, stack: error.stack };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (error.cause !== undefined) out.cause = redact(error.cause, depth + 1);
  return out;
}
