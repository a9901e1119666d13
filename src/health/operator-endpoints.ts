/**
 * What an operator scrapes and probes: /metrics on --metrics-addr, /healthz
 * and /readyz on --health-addr. Started before the providers load, so a slow
 * start shows as "not ready" rather than as a dead process.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { PrometheusMetrics } from '../metrics/prometheus-metrics.js';
import { PACKAGE_VERSION } from '../package-info.js';
import { DriverStatus } from './driver-status.js';
import { HealthChecks } from './health-checks.js';
import { startHttpEndpoints, type Endpoint } from './http-endpoints.js';

export interface OperatorEndpoints {
  readonly status: DriverStatus;
  /** Present when --metrics-addr is set. */
  readonly metrics: PrometheusMetrics | undefined;
  /** The URL of each path served, with the port actually bound. */
  readonly urls: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export async function startOperatorEndpoints(config: Config, logger: Logger): Promise<OperatorEndpoints> {
  const metrics =
    config.metricsAddress !== undefined ? new PrometheusMetrics({ providers: Object.keys(config.providers), version: PACKAGE_VERSION }) : undefined;
  const status = new DriverStatus((ready) => metrics?.setReady(ready));
  const endpoints: Endpoint[] = [];
  if (metrics !== undefined && config.metricsAddress !== undefined) {
    endpoints.push({
      address: config.metricsAddress,
      routes: { '/metrics': async () => ({ status: 200, ...(await metrics.scrape()) }) },
    });
  }
  if (config.healthAddress !== undefined) {
    const checks = new HealthChecks(config.socketPath, status);
    endpoints.push({
      address: config.healthAddress,
      routes: { '/healthz': () => checks.liveness(), '/readyz': () => checks.readiness() },
    });
  }
  const http = await startHttpEndpoints(endpoints, logger);
  if (endpoints.length > 0) logger.info({ urls: http.urls }, 'serving operator endpoints');
  return { status, metrics, urls: http.urls, close: () => http.close() };
}
