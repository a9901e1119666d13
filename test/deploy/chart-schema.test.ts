/**
 * The Helm chart's values.schema.json checks provider instances per type,
 * with a schema generated from the same zod schemas keymount checks at
 * start-up: the checked-in file must be current, and a real Helm must refuse
 * what keymount would refuse, before anything reaches a node.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_PROVIDER_TYPES } from '../../src/provider/built-in.js';
import { chartValuesSchemaText } from '../../src/provider/chart-schema.js';
import { CHART_DIR, ensureHelm, helmTemplate, objectsOf } from '../helpers/helm.js';

const SCHEMA_FILE = join(CHART_DIR, 'values.schema.json');
/** Building Helm takes minutes on a cold machine. */
const SETUP_TIMEOUT_MS = 25 * 60_000;

let scratch: string;

beforeAll(() => {
  ensureHelm();
  scratch = mkdtempSync(join(tmpdir(), 'keymount-chart-schema-'));
}, SETUP_TIMEOUT_MS);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A values file holding exactly these provider instances (the chart's default local-ca instance removed). */
function providersValues(providers: Record<string, unknown>): string {
  const file = join(scratch, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify({ providers: { 'local-ca': null, ...providers } }));
  return file;
}

/** Helm's stderr when it refuses the values; fails the test when Helm renders them. */
function refusal(providers: Record<string, unknown>): string {
  try {
    helmTemplate({ values: [providersValues(providers)] });
  } catch (error) {
    return String((error as { stderr?: unknown }).stderr);
  }
  throw new Error(`helm accepted ${JSON.stringify(providers)}`);
}

describe("the chart's values.schema.json", () => {
  it('is current: its providers part is what npm run gen:chart-schema generates from the provider types', () => {
    const checkedIn = readFileSync(SCHEMA_FILE, 'utf8');
    expect(checkedIn, 'deploy/helm/keymount/values.schema.json is stale: run npm run gen:chart-schema').toBe(
      chartValuesSchemaText(checkedIn, BUILT_IN_PROVIDER_TYPES),
    );
  });

  it('names every built-in provider type', () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as {
      properties: { providers: { additionalProperties: { properties: { type: { enum: string[] } } } } };
    };
    expect(schema.properties.providers.additionalProperties.properties.type.enum).toEqual(BUILT_IN_PROVIDER_TYPES.map((type) => type.type));
  });

  it('makes helm refuse an aws instance with a misspelt setting, naming it', () => {
    const stderr = refusal({ aws: { type: 'aws', region: 'eu-west-1', regoin: 'eu-west-2' } });
    expect(stderr).toContain('values don\'t meet the specifications of the schema');
    expect(stderr).toMatch(/\/providers\/aws/);
    expect(stderr).toContain('regoin');
  });

  it('makes helm refuse a bad instance of every type, and every bad instance at once', () => {
    const stderr = refusal({
      aws: { type: 'aws', region: 'not a region' },
      ca: { type: 'local-ca', policy: { dnsName: ['*.svc'] } },
      vault: { type: 'vault', address: 'https://v:8200', auth: { type: 'kubernetes', mountPth: 'k8s' } },
      pki: { type: 'vault-pki', address: 'https://v:8200', auth: { type: 'kubernetes' } },
      typo: { type: 'vaul' },
    });
    expect(stderr).toMatch(/\/providers\/aws\/region/);
    expect(stderr).toContain('dnsName');
    expect(stderr).toContain('mountPth');
    expect(stderr).toMatch(/\/providers\/pki.*pkiRole|pkiRole.*\/providers\/pki/s);
    expect(stderr).toMatch(/\/providers\/typo\/type/);
  });

  it('lets helm render good instances of every type, the common settings included', () => {
    const rendered = helmTemplate({
      values: [
        providersValues({
          ca: { type: 'local-ca', namespaces: ['shop', 'team-*'], minRefreshInterval: '5m', policy: { dnsNames: ['*.svc'] } },
          aws: { type: 'aws', region: 'eu-west-1', auth: { type: 'irsa' } },
          vault: { type: 'vault', address: 'https://v:8200', namespace: 'team-a', auth: { type: 'jwt', audience: 'vault' } },
          pki: { type: 'vault-pki', address: 'https://v:8200', pkiRole: 'pods', auth: { type: 'kubernetes' } },
        }),
      ],
    });
    const configMap = objectsOf(rendered).find((object) => object.kind === 'ConfigMap');
    expect((configMap?.data as Record<string, string> | undefined)?.['config.yaml']).toContain('pkiRole: pods');
  });
});
