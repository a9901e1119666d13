/**
 * Wraps a typed async handler into a grpc-js unary handler: gives it an
 * AbortSignal bounded by the call's deadline, writes one log line per call,
 * and maps every error to an explicit status (never UNKNOWN).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { isKeymountError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logging/logger.js';

export interface CallContext {
  /** Aborted when the caller's deadline passes or the call is cancelled. */
  readonly signal: AbortSignal;
}

export type Handler<Request, Response> = (request: Request, context: CallContext) => Promise<Response>;

/** Fields of a request worth a log line (never secrets: the logger redacts, but don't hand it any). */
export type Describe<Request> = (request: Request) => Record<string, unknown>;

const STATUS_OF: Readonly<Record<ErrorCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  ABORTED: grpc.status.ABORTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  INTERNAL: grpc.status.INTERNAL,
};

export function unary<Request, Response>(
  method: string,
  handler: Handler<Request, Response>,
  logger: Logger,
  describe: Describe<Request> = () => ({}),
): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    const started = performance.now();
    const { signal, dispose } = deadlineSignal(call);
    const fields = safeDescribe(describe, call.request);
    handler(call.request, { signal }).then(
      (response) => {
        dispose();
        logger.info({ method, ...fields, code: 'OK', durationMs: elapsed(started) }, `${method} OK`);
        callback(null, response);
      },
      (error: unknown) => {
        dispose();
        const failure = toServiceError(error);
        const record = { method, ...fields, code: grpc.status[failure.code], durationMs: elapsed(started), error: failure.details };
        if (failure.code === grpc.status.INTERNAL) {
          logger.error({ ...record, incident: failure.incident, err: error }, `${method} failed`);
        } else {
          logger.warn(record, `${method} failed`);
        }
        callback(failure);
      },
    );
  };
}

interface Failure extends Partial<grpc.StatusObject> {
  code: grpc.status;
  details: string;
  incident?: string;
}

/** Typed errors keep their code and message; anything else becomes a generic INTERNAL. */
export function toServiceError(error: unknown): Failure {
  if (isKeymountError(error)) return { code: STATUS_OF[error.code], details: error.message };
  const incident = randomUUID();
  return {
    code: grpc.status.INTERNAL,
    details: `internal error in keymount (incident ${incident}); the driver's log has the details`,
    incident,
  };
}

function deadlineSignal(call: grpc.ServerUnaryCall<unknown, unknown>): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onCancel = (): void => {
    controller.abort(new Error('call cancelled'));
  };
  call.on('cancelled', onCancel);
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(deadlineMs)) {
    timer = setTimeout(() => {
      controller.abort(new Error('deadline exceeded'));
    }, Math.max(0, deadlineMs - Date.now()));
  }
  return {
    signal: controller.signal,
    dispose: () => {
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

function safeDescribe<Request>(describe: Describe<Request>, request: Request): Record<string, unknown> {
  try {
    return describe(request);
  } catch {
    return {};
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
