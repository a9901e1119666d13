/**
 * /healthz and /readyz. Liveness asks the CSI socket for a Probe, exactly as
 * the kubelet's livenessprobe sidecar would, so a wedged gRPC server or a
 * socket deleted from under the driver fails it; readiness is the driver's
 * phase, the same answer the CSI Probe gives.
 */
import * as grpc from '@grpc/grpc-js';
import { loadCsiDefinitions } from '../csi/proto.js';
import type { DriverStatus } from './driver-status.js';
import type { HttpResponse } from './http-endpoints.js';

export const DEFAULT_PROBE_TIMEOUT_MS = 3_000;
/** How long one Probe answer serves /healthz: a flood of requests costs one dial per second, not one per request. */
export const PROBE_RESULT_TTL_MS = 1_000;

type ProbeOutcome = { readonly ready: boolean } | { readonly error: string };

export class HealthChecks {
  private readonly identity = loadCsiDefinitions().Identity;
  /** The probe in flight, or the last answer while it is younger than PROBE_RESULT_TTL_MS. */
  private latest: { readonly outcome: Promise<ProbeOutcome>; settledAt: number | undefined } | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly status: DriverStatus,
    private readonly probeTimeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
  ) {}

  /** 200 while the process runs and its CSI socket answers a Probe (ready or not); 503 otherwise. */
  async liveness(): Promise<HttpResponse> {
    if (this.status.phase === 'starting') return text(200, `ok: ${this.status.describe()}\n`);
    const outcome = await this.sharedProbe();
    if ('ready' in outcome) return text(200, `ok: the CSI socket answered Probe (ready=${String(outcome.ready)})\n`);
    return text(503, `unhealthy: the CSI socket ${this.socketPath} did not answer Probe: ${outcome.error}\n`);
  }

  /** At most one Probe in flight; callers within PROBE_RESULT_TTL_MS of its answer share it. */
  private sharedProbe(): Promise<ProbeOutcome> {
    const latest = this.latest;
    if (latest !== undefined && (latest.settledAt === undefined || performance.now() - latest.settledAt < PROBE_RESULT_TTL_MS)) return latest.outcome;
    const outcome = this.probe().then(
      (ready): ProbeOutcome => ({ ready }),
      (error: unknown): ProbeOutcome => ({ error: error instanceof Error ? error.message : String(error) }),
    );
    const entry: { readonly outcome: Promise<ProbeOutcome>; settledAt: number | undefined } = { outcome, settledAt: undefined };
    this.latest = entry;
    void outcome.then(() => {
      entry.settledAt = performance.now();
    });
    return outcome;
  }

  /** 200 once every provider instance is initialised and the socket is bound; 503 while starting or stopping. */
  readiness(): Promise<HttpResponse> {
    return Promise.resolve(text(this.status.isReady() ? 200 : 503, `${this.status.describe()}\n`));
  }

  /** A fresh channel per check: a long-lived one would wait out gRPC's reconnect backoff after the socket comes back. */
  private probe(): Promise<boolean> {
    // A private subchannel pool: grpc-js would otherwise share one connection (and its reconnect backoff) with other clients.
    const client = new this.identity(`unix://${this.socketPath}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    return new Promise<boolean>((resolve, reject) => {
      client.Probe({}, new grpc.Metadata(), { deadline: Date.now() + this.probeTimeoutMs }, (error, response) => {
        client.close();
        if (error) reject(error);
        else resolve(response?.ready?.value === true);
      });
    });
  }
}

function text(status: number, body: string): HttpResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body };
}
