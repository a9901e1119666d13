/**
 * The Prometheus implementation of VolumeMetrics, plus the per-call CSI
 * metrics, on a registry of its own (never prom-client's global one, so two
 * drivers in one process — the tests — do not share series).
 *
 * Cardinality is bounded by construction: the only labels are the provider
 * instance (one of the configured names, or "_unknown" for whatever else a pod
 * wrote), the CSI method, the gRPC code and an outcome from a fixed list.
 * Never a volume ID, a pod or a target path.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RefreshOutcome, RenewalOutcome, VolumeMetrics } from './volume-metrics.js';

/** The provider label of a call that names an instance this driver does not have. */
export const UNKNOWN_PROVIDER = '_unknown';

/** From a cache hit (milliseconds) to the kubelet's two-minute deadline. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const REFRESH_OUTCOMES: readonly RefreshOutcome[] = ['changed', 'unchanged', 'failed', 'skipped'];
const RENEWAL_OUTCOMES: readonly RenewalOutcome[] = ['renewed', 'failed'];

export interface CallRecord {
  /** The CSI method, e.g. "NodePublishVolume". */
  readonly method: string;
  /** A provider instance name, "" when the call has none. */
  readonly provider: string;
  /** The gRPC status name, e.g. "OK", "INVALID_ARGUMENT". */
  readonly code: string;
  readonly seconds: number;
}

export interface PrometheusMetricsOptions {
  /** The configured provider instances: the only provider label values besides "" and "_unknown". */
  readonly providers: readonly string[];
  readonly version: string;
}

export class PrometheusMetrics implements VolumeMetrics {
  readonly registry = new Registry();
  private readonly providers: ReadonlySet<string>;
  private readonly calls: Counter<'method' | 'provider' | 'code'>;
  private readonly callSeconds: Histogram<'method' | 'provider' | 'code'>;
  private readonly fetchSeconds: Histogram<'provider' | 'result'>;
  private readonly refreshes: Counter<'provider' | 'outcome'>;
  private readonly renewals: Counter<'provider' | 'outcome'>;
  private readonly mounted: Gauge<'provider'>;
  private readonly expiry: Gauge<'provider'>;
  private readonly ready: Gauge<never>;

  constructor(options: PrometheusMetricsOptions) {
    this.providers = new Set(options.providers);
    const registry = this.registry;
    collectDefaultMetrics({ register: registry });
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter({ name, help, labelNames, registers: [registry] });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> => new Gauge({ name, help, labelNames, registers: [registry] });
    const latency = <L extends string>(name: string, help: string, labelNames: readonly L[]): Histogram<L> =>
      new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [registry] });

    gauge('keymount_build_info', 'Always 1; the version label says which keymount runs.', ['version']).set({ version: options.version }, 1);
    this.ready = gauge('keymount_ready', '1 while the driver serves (providers loaded, socket bound), else 0; agrees with /readyz and the CSI Probe.', []);
    this.calls = counter('keymount_csi_calls_total', 'CSI calls answered, by method, provider instance and gRPC code.', ['method', 'provider', 'code']);
    this.callSeconds = latency('keymount_csi_call_duration_seconds', 'Time to answer a CSI call, by method, provider instance and gRPC code.', [
      'method',
      'provider',
      'code',
    ]);
    this.fetchSeconds = latency(
      'keymount_provider_fetch_duration_seconds',
      'Time of one provider fetch, by provider instance and result (OK or the gRPC code of the failure).',
      ['provider', 'result'],
    );
    this.refreshes = counter('keymount_refreshes_total', "Refreshes of published volumes (on republish or on the provider's schedule), by outcome.", [
      'provider',
      'outcome',
    ]);
    this.renewals = counter('keymount_renewals_total', 'Scheduled renewals (certificates renewed before they expire), by outcome.', ['provider', 'outcome']);
    this.mounted = gauge('keymount_volumes_mounted', 'Volumes this driver currently serves, by provider instance.', ['provider']);
    this.expiry = gauge(
      'keymount_certificate_earliest_expiry_timestamp_seconds',
      "Unix time of the soonest certificate expiry among a provider instance's volumes (one series per instance, absent without certificates).",
      ['provider'],
    );
    // Every instance's series exist from the start, so rate() and "== 0" alerts work before the first event.
    for (const provider of this.providers) {
      this.mounted.set({ provider }, 0);
      for (const outcome of REFRESH_OUTCOMES) this.refreshes.inc({ provider, outcome }, 0);
      for (const outcome of RENEWAL_OUTCOMES) this.renewals.inc({ provider, outcome }, 0);
    }
    this.ready.set(0);
  }

  /** The provider label for a name from a request or a record: bounded to the configured instances. */
  providerLabel(name: string | undefined): string {
    if (name === undefined || name === '') return '';
    return this.providers.has(name) ? name : UNKNOWN_PROVIDER;
  }

  callFinished(call: CallRecord): void {
    const labels = { method: call.method, provider: this.providerLabel(call.provider), code: call.code };
    this.calls.inc(labels);
    this.callSeconds.observe(labels, call.seconds);
  }

  setReady(ready: boolean): void {
    this.ready.set(ready ? 1 : 0);
  }

  fetchFinished(provider: string, result: string, seconds: number): void {
    this.fetchSeconds.observe({ provider: this.providerLabel(provider), result }, seconds);
  }

  refreshFinished(provider: string, outcome: RefreshOutcome): void {
    this.refreshes.inc({ provider: this.providerLabel(provider), outcome });
  }

  renewalFinished(provider: string, outcome: RenewalOutcome): void {
    this.renewals.inc({ provider: this.providerLabel(provider), outcome });
  }

  setMountedVolumes(provider: string, count: number): void {
    this.mounted.set({ provider: this.providerLabel(provider) }, count);
  }

  setEarliestExpiry(provider: string, secondsFromNow: number | undefined): void {
    const labels = { provider: this.providerLabel(provider) };
    // A timestamp, not a countdown: the value stays right between the lifecycle's updates.
    if (secondsFromNow === undefined) this.expiry.remove(labels);
    else this.expiry.set(labels, Math.round(Date.now() / 1000 + secondsFromNow));
  }

  /** The exposition text and its content type, for GET /metrics. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
