/**
 * The Grafana dashboard in deploy/grafana/: loadable (valid JSON, unique
 * panel IDs, panels that fit the 24-column grid without overlapping), and
 * every query asks for series and labels the driver really exports, so a
 * renamed metric cannot leave an empty panel behind; no import input that
 * nothing uses; and no time series whose every point covers the whole range.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../src/metrics/prometheus-metrics.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { x: number; y: number; w: number; h: number };
  readonly targets?: readonly { expr: string }[];
  /** A collapsed row holds its panels. */
  readonly panels?: readonly Panel[];
}

const dashboardText = readFileSync(join(PACKAGE_ROOT, 'deploy', 'grafana', 'keymount-dashboard.json'), 'utf8');
const dashboard = JSON.parse(dashboardText) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string }[] };
  __inputs?: { name: string }[];
};
const allPanels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);

/** Panel types that show one value for the dashboard's whole time range, where `[$__range]` is what is meant. */
const ONE_VALUE_PANELS = new Set(['stat', 'gauge', 'bargauge', 'table', 'piechart']);

/** PromQL words that are neither functions (those are followed by "(") nor metric names. */
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/** Every metric name an expression reads: what is left once strings, label matchers, ranges, groupings and function calls are removed. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((match) => match[1] ?? '')
    .filter((word) => !PROMQL_KEYWORDS.has(word.toLowerCase()));
}

/** Series the driver exports → their label names (histograms expand to _bucket, _sum and _count). */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  const metrics = new PrometheusMetrics({ providers: ['local-ca'], version: 'test' });
  metrics.callFinished({ method: 'NodePublishVolume', provider: 'local-ca', code: 'OK', seconds: 0.1 });
  metrics.fetchFinished('local-ca', 'OK', 0.1);
  metrics.setEarliestExpiry('local-ca', 3600);
  const series = new Map<string, Set<string>>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set<string>();
    for (const value of metric.values) for (const key of Object.keys(value.labels)) labels.add(key);
    const names = metric.type.toString() === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => `${metric.name}${suffix}`) : [metric.name];
    for (const name of names) series.set(name, labels);
  }
  return series;
}

const queries = allPanels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, type: panel.type, expr: target.expr })));

describe('the Grafana dashboard', () => {
  it('is a dashboard Grafana can import', () => {
    expect(dashboard.uid).toBe('keymount');
    expect(dashboard.templating.list.map((variable) => variable.name)).toEqual(['datasource', 'job']);
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(queries.length).toBeGreaterThan(10);
  });

  it('lays its panels out on the grid without overlaps', () => {
    const cells = new Set<string>();
    for (const { title, gridPos } of dashboard.panels) {
      expect(gridPos.x + gridPos.w, title).toBeLessThanOrEqual(24);
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('declares no import input (__inputs) that the dashboard does not use', () => {
    const withoutInputs = JSON.stringify({ ...dashboard, __inputs: undefined });
    for (const input of dashboard.__inputs ?? []) {
      expect(withoutInputs, `__inputs declares ${input.name}, which no panel or variable uses`).toContain(`\${${input.name}}`);
    }
    // The data source is the "datasource" variable; nothing refers to an input.
    expect(dashboardText).not.toMatch(/\$\{DS_[A-Z_]+\}/);
  });

  it('gives time series a window per point ($__rate_interval), never the whole range ($__range)', () => {
    const timeSeries = queries.filter(({ type }) => !ONE_VALUE_PANELS.has(type));
    expect(timeSeries.length).toBeGreaterThan(5);
    for (const { panel, expr } of timeSeries) {
      expect(expr, `${panel}: every point would show the whole range`).not.toMatch(/\$__range\b|\$\{__range\}/);
      for (const [, window] of expr.matchAll(/\[([^\]]*)\]/g)) expect(window, `${panel}: ${expr}`).toBe('$__rate_interval');
    }
  });

  it('queries only series and labels the driver exports', async () => {
    const series = await exportedSeries();
    const scrapeLabels = ['job', 'instance'];
    for (const { panel, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      const labelsOfExpr = new Set(scrapeLabels);
      for (const name of names) {
        const labels = series.get(name);
        expect(labels, `${panel}: ${name} is not exported`).toBeDefined();
        for (const label of labels ?? []) labelsOfExpr.add(label);
      }
      const used = [
        ...[...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((match) => (match[1] ?? '').split(',')),
        ...[...expr.matchAll(/([a-z_]+)\s*(?:=~|!=|!~|=)\s*"/g)].map((match) => match[1] ?? ''),
      ]
        .map((label) => label.trim())
        .filter((label) => label !== '');
      for (const label of used) expect(labelsOfExpr.has(label), `${panel}: label ${label} of ${expr}`).toBe(true);
    }
    // The variables' queries too (label_values(metric, label)).
    const variableQueries = (dashboard.templating.list as { name: string; definition?: string }[]).flatMap((variable) => variable.definition ?? []);
    for (const definition of variableQueries) {
      const [, metric = '', label = ''] = /label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_]+)\s*\)/.exec(definition) ?? [];
      expect(series.has(metric), `variable query ${definition}`).toBe(true);
      expect([...scrapeLabels, ...(series.get(metric) ?? [])], `variable query ${definition}`).toContain(label);
    }
  });
});
