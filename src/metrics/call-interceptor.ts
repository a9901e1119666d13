/**
 * A grpc-js server interceptor that sees every CSI call end: it reports the
 * method, provider instance, gRPC code and duration to an injected observer
 * (the Prometheus metrics), and counts the calls in flight (for a graceful
 * shutdown's log line). It wraps the server, so the services stay unaware.
 */
import * as grpc from '@grpc/grpc-js';

export interface CallObservation {
  readonly method: string;
  /** The provider instance named by the request or serving its volume; "" when none. */
  readonly provider: string;
  /** The gRPC status name, e.g. "OK". */
  readonly code: string;
  readonly seconds: number;
}

export interface CallInterceptorOptions {
  readonly observe: (call: CallObservation) => void;
  /** The provider instance of a volume already served, for calls that carry only a volume ID (unpublish). */
  readonly providerOfVolume: (volumeId: string) => string | undefined;
}

export interface CallTracker {
  readonly interceptor: grpc.ServerInterceptor;
  /** Calls received and not yet answered. */
  inFlight(): number;
}

export function trackCalls(options: CallInterceptorOptions): CallTracker {
  let inFlight = 0;
  const interceptor: grpc.ServerInterceptor = (descriptor, call) => {
    const method = descriptor.path.slice(descriptor.path.lastIndexOf('/') + 1);
    const started = performance.now();
    let provider = '';
    let finished = false;
    inFlight++;
    const finish = (code: grpc.status): void => {
      if (finished) return;
      finished = true;
      inFlight--;
      options.observe({ method, provider, code: grpc.status[code], seconds: (performance.now() - started) / 1000 });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMessage: (message: unknown, nextMessage) => {
            provider = providerOf(message, options.providerOfVolume);
            nextMessage(message);
          },
          onCancel: () => {
            // The client went away, or grpc-js ended the call at its deadline without our responder.
            finish(pastDeadline(call.getDeadline()) ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED);
          },
        });
      },
      sendStatus: (status, next) => {
        finish(status.code ?? grpc.status.UNKNOWN);
        next(status);
      },
    });
  };
  return { interceptor, inFlight: () => inFlight };
}

/** NodePublishVolume names its instance in volume_context.provider; other volume calls only carry the ID. */
function providerOf(message: unknown, providerOfVolume: (volumeId: string) => string | undefined): string {
  if (typeof message !== 'object' || message === null) return '';
  const { volume_context: context, volume_id: volumeId } = message as { volume_context?: unknown; volume_id?: unknown };
  if (typeof context === 'object' && context !== null) {
    const named = (context as Record<string, unknown>).provider;
    if (typeof named === 'string') return named;
  }
  if (typeof volumeId === 'string' && volumeId !== '') return providerOfVolume(volumeId) ?? '';
  return '';
}

function pastDeadline(deadline: grpc.Deadline): boolean {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) && ms <= Date.now();
}
