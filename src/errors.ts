/**
 * Typed errors. Every failure that can reach a CSI caller is a KeymountError
 * with an explicit code; the gRPC layer maps codes to statuses and turns any
 * other error into INTERNAL with a generic message (details go to the log only).
 *
 * Messages are shown to users (kubectl describe pod): they must help fix the
 * pod spec and must never carry secret values, tokens or file contents.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

/** Codes whose failures a retry may cure; the rest need a change by the user or admin. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['ABORTED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED']);

export class KeymountError extends Error {
  override readonly name = 'KeymountError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

export const invalidArgument = (message: string): KeymountError => new KeymountError('INVALID_ARGUMENT', message);
export const permissionDenied = (message: string): KeymountError => new KeymountError('PERMISSION_DENIED', message);
export const failedPrecondition = (message: string): KeymountError => new KeymountError('FAILED_PRECONDITION', message);
export const notFound = (message: string): KeymountError => new KeymountError('NOT_FOUND', message);
export const unavailable = (message: string, cause?: unknown): KeymountError =>
  new KeymountError('UNAVAILABLE', message, { cause });
export const resourceExhausted = (message: string): KeymountError => new KeymountError('RESOURCE_EXHAUSTED', message);

export function isKeymountError(error: unknown): error is KeymountError {
  return error instanceof KeymountError;
}

/** Node.js system errors carry a string `code` such as ENOENT. */
export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}
