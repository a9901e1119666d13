/**
 * The chart's alert rules and the Grafana dashboard's queries, evaluated by
 * real Prometheus code (promtool, see test/helpers/promtool.ts):
 * - the PrometheusRule the chart renders passes `promtool check rules`, and its
 *   unit tests (test/deploy/prometheus/alerts.test.yaml: input series, times,
 *   expected alerts) show each alert firing and not firing;
 * - every panel query of deploy/grafana/keymount-dashboard.json, with Grafana's
 *   variables replaced, returns series when fed what a running keymount's
 *   /metrics served across two scrapes.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { BUILT_IN_PROVIDER_TYPES } from '../../src/provider/built-in.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { ensureHelm, helmTemplate, objectsOf } from '../helpers/helm.js';
import { ensurePromtool, promtool } from '../helpers/promtool.js';
import { IS_ROOT, ROOT_REASON } from '../helpers/system.js';
import { versionedProviderType } from '../helpers/test-providers.js';

const ALERT_TESTS = join(PACKAGE_ROOT, 'test', 'deploy', 'prometheus', 'alerts.test.yaml');
const DASHBOARD = join(PACKAGE_ROOT, 'deploy', 'grafana', 'keymount-dashboard.json');
/** Building promtool (and Helm) from source takes minutes on a cold machine. */
const SETUP_TIMEOUT_MS = 30 * 60_000;

let scratch: string;

beforeAll(() => {
  ensureHelm();
  ensurePromtool();
  scratch = mkdtempSync(join(tmpdir(), 'keymount-prometheus-'));
}, SETUP_TIMEOUT_MS);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs `promtool test rules` on a test file in the scratch directory; the output is the failure message. */
function expectPromtoolPasses(args: readonly string[]): string {
  const { exitCode, output } = promtool(args, scratch);
  expect(exitCode, output).toBe(0);
  return output;
}

describe('the PrometheusRule the chart renders', () => {
  it('passes promtool check rules and its unit tests: every alert fires when it should and stays quiet otherwise', () => {
    const rule = objectsOf(helmTemplate({ set: { 'prometheusRule.enabled': 'true' } })).find((object) => object.kind === 'PrometheusRule');
    expect(rule, 'the PrometheusRule').toBeDefined();
    const { groups } = (rule as unknown as { spec: { groups: unknown[] } }).spec;
    // A PrometheusRule's spec is a Prometheus rule file.
    writeFileSync(join(scratch, 'keymount-rules.yaml'), toYaml({ groups }));
    copyFileSync(ALERT_TESTS, join(scratch, 'alerts.test.yaml'));
    expect(expectPromtoolPasses(['check', 'rules', 'keymount-rules.yaml'])).toContain('SUCCESS: 5 rules found');
    expectPromtoolPasses(['test', 'rules', 'alerts.test.yaml']);
  });

  it('has a unit test for every alert it defines', () => {
    const rule = objectsOf(helmTemplate({ set: { 'prometheusRule.enabled': 'true' } })).find((object) => object.kind === 'PrometheusRule');
    const { groups } = (rule as unknown as { spec: { groups: { rules: { alert?: string }[] }[] } }).spec;
    const alerts = groups.flatMap((group) => group.rules.map((rule) => rule.alert ?? ''));
    const tests = readFileSync(ALERT_TESTS, 'utf8');
    for (const alert of alerts) expect(tests, alert).toContain(`alertname: ${alert}\n`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The dashboard against a real driver's /metrics.

/** Target labels a Prometheus scrape adds; the dashboard filters on job. */
const TARGET_LABELS = 'job="keymount",instance="node-a:9811"';
/** The scrape interval the promtool input pretends (the real scrapes are seconds apart; counters only grow). */
const SCRAPE_INTERVAL_SECONDS = 15;
/**
 * promtool appends the input samples step by step, one evaluation interval at a time: with its default of 1m, a
 * query at 15s would not see the sample at 15s yet.
 */
const EVALUATION_INTERVAL = `${SCRAPE_INTERVAL_SECONDS}s`;
/** Grafana's values for its variables at that scrape interval: $__rate_interval is max(4 × scrape, interval + scrape). */
const GRAFANA_VARIABLES: Readonly<Record<string, string>> = {
  job: 'keymount',
  __rate_interval: '1m',
  __interval: `${SCRAPE_INTERVAL_SECONDS}s`,
  __range: '1h',
};

/** Each series of an exposition text (`name{labels}` with the target labels added) and its value, as promtool spells both. */
function seriesOf(exposition: string): Map<string, string> {
  const series = new Map<string, string>();
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const [, name = '', labels = '', value = ''] = match;
    const selector = `${name}{${TARGET_LABELS}${labels === '' ? '' : `,${labels}`}}`;
    series.set(selector, value.replace(/^\+Inf$/, 'Inf'));
  }
  return series;
}

interface PanelQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

interface DashboardPanel {
  readonly title?: string;
  readonly targets?: readonly { readonly refId?: string; readonly expr?: string }[];
  readonly panels?: readonly DashboardPanel[];
}

function dashboardQueries(): PanelQuery[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: DashboardPanel[] };
  // Collapsed rows keep their panels inside.
  const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  return panels.flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) => (target.expr === undefined ? [] : [{ panel: panel.title ?? '', refId: target.refId ?? '', expr: target.expr }])),
  );
}

/** The query with Grafana's variables replaced; an unknown variable is an error, not a silent pass. */
function withVariables(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_whole, name: string) => {
    const value = GRAFANA_VARIABLES[name];
    if (value === undefined) throw new Error(`the query ${expr} uses $${name}, which this test does not know`);
    return value;
  });
}

describe.skipIf(!IS_ROOT)(`the dashboard's queries (${IS_ROOT ? 'a real driver on real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  const scrapes: Map<string, string>[] = [];

  async function scrape(): Promise<Map<string, string>> {
    const url = harness.driver.httpUrls['/metrics'];
    if (url === undefined) throw new Error('the driver serves no /metrics');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    return seriesOf(await response.text());
  }

  /** One round of what the dashboard shows: good and refused publishes, an unpublish, a failing provider fetch. */
  async function traffic(round: number): Promise<void> {
    const kept = harness.newVolume(`kept-${round}`);
    await harness.publish(kept, { provider: 'local-ca', 'dns-names': 'web.shop.svc' });
    const removed = harness.newVolume(`removed-${round}`);
    await harness.publish(removed, { provider: 'local-ca', 'dns-names': 'api.shop.svc' });
    await harness.unpublish(removed);
    await callError(harness.publish(harness.newVolume(), { provider: 'local-ca', 'comon-name': 'typo' }));
    await callError(harness.publish(harness.newVolume(), { provider: 'versioned' }));
  }

  beforeAll(async () => {
    const versioned = versionedProviderType();
    // The backend is down: every fetch fails, so the failure panels have series.
    versioned.backend.down = true;
    harness = await startHarness({
      flags: { 'metrics-addr': '127.0.0.1:0', 'log-level': 'warn' },
      providerTypes: [...BUILT_IN_PROVIDER_TYPES, versioned.type],
      providers: { 'local-ca': { type: 'local-ca', settings: {} }, versioned: { type: 'versioned', settings: {} } },
    });
    await traffic(1);
    scrapes.push(await scrape());
    await sleep(3_000);
    await traffic(2);
    scrapes.push(await scrape());
  }, 60_000);

  afterAll(async () => {
    await harness.stop();
  });

  it('every panel query returns at least one series at the second scrape, evaluated by promtool', () => {
    const [first, second] = scrapes as [Map<string, string>, Map<string, string>];
    const names = [...new Set([...first.keys(), ...second.keys()])];
    const inputSeries = names.map((series) => ({ series, values: `${first.get(series) ?? '_'} ${second.get(series) ?? '_'}` }));
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(15);
    // promtool compares exact results, so each query becomes "does it return a series": 1 if so, 0 if not.
    // A query that does not parse or evaluate fails promtool with Prometheus's own error.
    const tests = queries.map((query) => ({
      name: `${query.panel} (${query.refId})`,
      interval: `${SCRAPE_INTERVAL_SECONDS}s`,
      input_series: inputSeries,
      promql_expr_test: [
        { expr: `(count(${withVariables(query.expr)}) > bool 0) or vector(0)`, eval_time: `${SCRAPE_INTERVAL_SECONDS}s`, exp_samples: [{ labels: '{}', value: 1 }] },
      ],
    }));
    writeFileSync(join(scratch, 'dashboard.test.yaml'), toYaml({ evaluation_interval: EVALUATION_INTERVAL, tests }, { lineWidth: 0 }));
    expectPromtoolPasses(['test', 'rules', 'dashboard.test.yaml']);
  });

  it('the queries see what the driver did: ready, one volume kept per round, publish errors by code', () => {
    const [first, second] = scrapes as [Map<string, string>, Map<string, string>];
    const inputSeries = [...second.keys()].map((series) => ({ series, values: `${first.get(series) ?? '_'} ${second.get(series) ?? '_'}` }));
    const at = `${SCRAPE_INTERVAL_SECONDS}s`;
    const tests = [
      {
        name: 'values',
        interval: at,
        input_series: inputSeries,
        promql_expr_test: [
          { expr: withVariables('sum(keymount_ready{job=~"$job"})'), eval_time: at, exp_samples: [{ labels: '{}', value: 1 }] },
          { expr: withVariables('sum(keymount_volumes_mounted{job=~"$job"})'), eval_time: at, exp_samples: [{ labels: '{}', value: 2 }] },
          {
            // One refusal of each kind per round, two rounds.
            expr: withVariables('sum by (code) (keymount_csi_calls_total{job=~"$job",method="NodePublishVolume",code!="OK"})'),
            eval_time: at,
            exp_samples: [
              { labels: '{code="INVALID_ARGUMENT"}', value: 2 },
              { labels: '{code="UNAVAILABLE"}', value: 2 },
            ],
          },
        ],
      },
    ];
    writeFileSync(join(scratch, 'values.test.yaml'), toYaml({ evaluation_interval: EVALUATION_INTERVAL, tests }, { lineWidth: 0 }));
    expectPromtoolPasses(['test', 'rules', 'values.test.yaml']);
  });
});
