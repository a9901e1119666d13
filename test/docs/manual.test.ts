/**
 * The manual (README.md and docs/) against the code: links and anchors
 * resolve; every attribute, instance setting, serve flag, environment
 * variable and metric the code knows appears on the page that owns it; every
 * attribute the docs' tables list is accepted; and the runnable examples (config
 * files, pod volumes) are accepted by the same parsers the driver runs.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { awsSettingsSchema, parseAwsSettings } from '../../providers/aws/settings.js';
import { ATTRIBUTE_KEYS as AWS_ATTRIBUTE_KEYS } from '../../providers/aws/objects.js';
import { localCaSettingsSchema, parseSettings as parseLocalCaSettings } from '../../providers/local-ca/settings.js';
import { VAULT_ATTRIBUTE_KEYS } from '../../providers/vault/attributes.js';
import { VAULT_PKI_ATTRIBUTE_KEYS } from '../../providers/vault/pki-attributes.js';
import { parseVaultPkiSettings, vaultPkiSettingsSchema } from '../../providers/vault/pki-settings.js';
import { parseVaultSettings, vaultConnectionShape, vaultSettingsSchema } from '../../providers/vault/settings.js';
import { CERTIFICATE_ATTRIBUTE_KEYS } from '../../providers/x509-common/index.js';
import { buildConfig, providerInstanceSchema, SERVE_OPTIONS, type ProviderInstanceConfig } from '../../src/config/config.js';
import { toPublishRequest } from '../../src/csi/validate.js';
import { PrometheusMetrics } from '../../src/metrics/prometheus-metrics.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { BUILT_IN_PROVIDER_TYPES } from '../../src/provider/built-in.js';
import { ProviderRegistry } from '../../src/provider/registry.js';
import { COMMON_ATTRIBUTES, resolveVolumeSpec } from '../../src/volume/volume-spec.js';
import { publishRequest } from '../helpers/kubelet.js';

const DOCS = join(PACKAGE_ROOT, 'docs');
const SILENT = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

const PAGES = [join(PACKAGE_ROOT, 'README.md'), ...markdownFiles(DOCS)].sort();
const read = (path: string): string => readFileSync(path, 'utf8');
const page = (name: string): string => read(join(DOCS, name));

/** The lines outside fenced code blocks, with their line numbers. */
function proseLines(text: string): { line: string; number: number }[] {
  let fenced = false;
  return text.split('\n').flatMap((line, index) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return [];
    }
    return fenced ? [] : [{ line, number: index + 1 }];
  });
}

/** The fenced code blocks of a page, with their language. */
function codeBlocks(text: string): { language: string; code: string; line: number }[] {
  const blocks: { language: string; code: string; line: number }[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^\s*```(\S*)/.exec(lines[index] ?? '');
    if (!open) continue;
    const start = index;
    const body: string[] = [];
    for (index++; index < lines.length && !/^\s*```/.test(lines[index] ?? ''); index++) body.push(lines[index] ?? '');
    blocks.push({ language: open[1] ?? '', code: body.join('\n'), line: start + 1 });
  }
  return blocks;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = (heading[1] ?? '')
      .replace(/<[^>]*>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}_\- ]/gu, '')
      .replaceAll(' ', '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Every `[text](target)` outside code blocks and inline code. */
function linksOf(text: string): { target: string; line: number }[] {
  return proseLines(text).flatMap(({ line, number }) =>
    [...line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => ({ target: match[1] ?? '', line: number })),
  );
}

/** `name` spans of a text. */
function codeSpans(text: string): Set<string> {
  return new Set([...text.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] ?? ''));
}

type SchemaDef = { type: string } & Record<string, unknown>;
const defOf = (schema: unknown): SchemaDef => (schema as { _zod: { def: SchemaDef } })._zod.def;

/** The dotted paths of every key an object schema (through optionals, defaults, unions, pipes) accepts. */
function settingPaths(schema: unknown, prefix = ''): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape as Record<string, unknown>).flatMap(([key, inner]) => {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        return [path, ...settingPaths(inner, path)];
      });
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
    case 'catch':
      return settingPaths(def.innerType, prefix);
    case 'pipe':
      return [...settingPaths(def.in, prefix), ...settingPaths(def.out, prefix)];
    case 'union':
      return (def.options as unknown[]).flatMap((option) => settingPaths(option, prefix));
    default:
      return [];
  }
}

const unique = (items: readonly string[]): string[] => [...new Set(items)].sort();

/** A setting is documented when its full dotted path, or its own name, appears as code on the page. */
function undocumentedSettings(schema: z.ZodType, pages: readonly string[]): string[] {
  const spans = new Set(pages.flatMap((text) => [...codeSpans(text)]));
  const named = (path: string): boolean => {
    const leaf = path.split('.').at(-1) ?? path;
    return spans.has(path) || spans.has(leaf) || [...spans].some((span) => span.startsWith(`${leaf}:`) || span.endsWith(`.${leaf}`));
  };
  return unique(settingPaths(schema)).filter((path) => !named(path));
}

interface ProviderPage {
  readonly type: string;
  readonly page: string;
  readonly attributeKeys: readonly string[];
  readonly schema: z.ZodType;
  readonly parseSettings: (instanceName: string, settings: unknown) => unknown;
  /** Settings this type shares with another, documented once on that type's page. */
  readonly shared?: { readonly schema: z.ZodType; readonly page: string };
}

const PROVIDER_PAGES: readonly ProviderPage[] = [
  { type: 'local-ca', page: 'providers/local-ca.md', attributeKeys: CERTIFICATE_ATTRIBUTE_KEYS, schema: localCaSettingsSchema, parseSettings: parseLocalCaSettings },
  { type: 'aws', page: 'providers/aws.md', attributeKeys: AWS_ATTRIBUTE_KEYS, schema: awsSettingsSchema, parseSettings: parseAwsSettings },
  { type: 'vault', page: 'providers/vault.md', attributeKeys: VAULT_ATTRIBUTE_KEYS, schema: vaultSettingsSchema, parseSettings: (name, settings) => parseVaultSettings('vault', name, settings) },
  {
    type: 'vault-pki',
    page: 'providers/vault-pki.md',
    attributeKeys: VAULT_PKI_ATTRIBUTE_KEYS,
    schema: vaultPkiSettingsSchema,
    parseSettings: (name, settings) => parseVaultPkiSettings('vault-pki', name, settings),
    shared: { schema: z.strictObject(vaultConnectionShape), page: 'providers/vault.md' },
  },
];

/** The backticked names in the first column of every table whose header's first cell is `attribute`. */
function attributeTableNames(text: string): { name: string; line: number }[] {
  const names: { name: string; line: number }[] = [];
  let inTable = false;
  for (const { line, number } of proseLines(text)) {
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    if (/^attribute$/i.test(cells[0] ?? '') && !inTable) {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0] ?? '')) continue;
    for (const name of codeSpans(cells[0] ?? '')) names.push({ name: name.replace(/:.*$/, ''), line: number });
  }
  return names;
}

interface DocExample {
  readonly file: string;
  readonly line: number;
  readonly document: unknown;
}

/** The YAML blocks of every page, parsed (blocks that are not YAML documents are left out). */
const yamlExamples: DocExample[] = PAGES.flatMap((file) =>
  codeBlocks(read(file))
    .filter((block) => block.language === 'yaml')
    .flatMap((block) =>
      parseAllDocuments(block.code)
        .filter((document) => document.errors.length === 0)
        .map((document) => ({ file: relative(PACKAGE_ROOT, file), line: block.line, document: document.toJS() as unknown })),
    ),
);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Config-file examples: a top-level `providers:` map of instances with a `type`. */
const configExamples = yamlExamples.filter(
  (example) => isRecord(example.document) && isRecord(example.document.providers) && Object.values(example.document.providers).every((instance) => isRecord(instance) && 'type' in instance),
);

interface PodVolumeExample {
  readonly example: DocExample;
  readonly namespace: string;
  readonly volumeName: string;
  readonly attributes: Record<string, string>;
}

/** Every keymount inline volume in the YAML examples, wherever it sits in the document. */
function podVolumes(example: DocExample): PodVolumeExample[] {
  const found: PodVolumeExample[] = [];
  const namespaceOf = (document: unknown): string => {
    const metadata = isRecord(document) ? document.metadata : undefined;
    return isRecord(metadata) && typeof metadata.namespace === 'string' ? metadata.namespace : 'shop';
  };
  const namespace = namespaceOf(example.document);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    if (!isRecord(node)) return;
    if (isRecord(node.csi) && node.csi.driver === 'keymount.csi.io' && isRecord(node.csi.volumeAttributes)) {
      const attributes = Object.fromEntries(Object.entries(node.csi.volumeAttributes).map(([key, value]) => [key, String(value)]));
      found.push({ example, namespace, volumeName: typeof node.name === 'string' ? node.name : 'secrets', attributes });
    }
    Object.values(node).forEach(visit);
  };
  visit(example.document);
  return found;
}

/** `keymount publish` command lines of the shell examples (continuation lines joined), as their `-a` attributes. */
function publishCommands(file: string): { file: string; line: number; attributes: Record<string, string> }[] {
  return codeBlocks(read(file))
    .filter((block) => block.language === 'sh')
    .flatMap((block) => {
      const joined = block.code.replace(/\\\n\s*/g, ' ');
      return joined
        .split('\n')
        .filter((line) => /keymount -- publish /.test(line) && !line.includes('…'))
        .map((line) => {
          const attributes: Record<string, string> = {};
          for (const match of line.matchAll(/(?:^|\s)-a\s+([A-Za-z0-9_./-]+)=('([^']*)'|\S+)/g)) attributes[match[1] ?? ''] = match[3] ?? match[2] ?? '';
          return { file: relative(PACKAGE_ROOT, file), line: block.line, attributes };
        });
    });
}

const podVolumeExamples = [
  ...yamlExamples.flatMap(podVolumes),
  ...PAGES.flatMap(publishCommands).map(({ file, line, attributes }) => ({
    example: { file, line, document: undefined },
    namespace: 'default',
    volumeName: 'try',
    attributes,
  })),
];

describe('the manual', () => {
  it('has README.md and every page the README promises, each starting with its title and a one-line purpose', () => {
    const required = [
      'install.md',
      'configuration.md',
      'volumes.md',
      'errors.md',
      'operations.md',
      'security.md',
      'providers/local-ca.md',
      'providers/aws.md',
      'providers/vault.md',
      'providers/vault-pki.md',
      'migration/secrets-store-aws.md',
      'migration/secrets-store-vault.md',
      'migration/cert-manager-csi-driver.md',
      'development/architecture.md',
      'development/tests.md',
      'development/e2e.md',
      'development/benchmarks.md',
    ];
    for (const name of required) {
      const lines = page(name).split('\n');
      expect(lines[0], `docs/${name}: a "# Title" first`).toMatch(/^# \S/);
      expect(lines[1], `docs/${name}: a blank line after the title`).toBe('');
      expect(lines[2]?.trim(), `docs/${name}: a purpose line after the title`).toMatch(/^\S.{10,}/);
    }
  });

  it('keeps the README a front door that still shows the two set-up commands', () => {
    const readme = read(join(PACKAGE_ROOT, 'README.md'));
    expect(readme).toContain('## Try it (two commands)');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toMatch(/^npm test\s/m);
    expect(readme.split('\n').length).toBeLessThan(200);
  });

  it.each(PAGES.map((file) => [relative(PACKAGE_ROOT, file), file]))('%s: every relative link and #anchor resolves', (_name, file) => {
    const broken: string[] = [];
    for (const { target, line } of linksOf(read(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [pathPart = '', anchor] = target.split('#', 2);
      const linked = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
      if (!existsSync(linked)) {
        broken.push(`line ${line}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && anchor !== '') {
        if (!linked.endsWith('.md')) {
          broken.push(`line ${line}: ${target} (an anchor into a file that is not Markdown)`);
        } else if (!anchorsOf(read(linked)).has(anchor)) {
          broken.push(`line ${line}: ${target} (no heading with this anchor in ${relative(PACKAGE_ROOT, linked)})`);
        }
      }
    }
    expect(broken, broken.join('\n')).toEqual([]);
  });
});

describe('the reference against the code', () => {
  it('volumes.md names every attribute common to all providers', () => {
    const spans = codeSpans(page('volumes.md'));
    expect(COMMON_ATTRIBUTES.filter((key) => !spans.has(key))).toEqual([]);
  });

  it('the page of every built-in provider type exists', () => {
    expect(PROVIDER_PAGES.map((entry) => entry.type).sort()).toEqual(BUILT_IN_PROVIDER_TYPES.map((type) => type.type).sort());
  });

  it.each(PROVIDER_PAGES.map((entry) => [entry.type, entry]))('%s: its page names every attribute key the provider accepts', (_type, entry) => {
    const spans = codeSpans(page(entry.page));
    expect(entry.attributeKeys.filter((key) => !spans.has(key))).toEqual([]);
  });

  it.each(PROVIDER_PAGES.map((entry) => [entry.type, entry]))('%s: every attribute its page lists in an attribute table is accepted by the provider', (_type, entry) => {
    const accepted = new Set<string>([...COMMON_ATTRIBUTES, ...entry.attributeKeys]);
    const listed = attributeTableNames(page(entry.page));
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter(({ name }) => !accepted.has(name)).map(({ name, line }) => `line ${line}: ${name}`)).toEqual([]);
  });

  it('every attribute volumes.md lists in an attribute table is a common attribute', () => {
    const common = new Set<string>(COMMON_ATTRIBUTES);
    const listed = attributeTableNames(page('volumes.md'));
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter(({ name }) => !common.has(name)).map(({ name, line }) => `line ${line}: ${name}`)).toEqual([]);
  });

  it.each(PROVIDER_PAGES.map((entry) => [entry.type, entry]))('%s: every instance setting appears on its page or in configuration.md', (_type, entry) => {
    const paths = settingPaths(entry.schema);
    expect(paths.length).toBeGreaterThan(3);
    const shared = new Set(entry.shared === undefined ? [] : settingPaths(entry.shared.schema));
    const ownPages = [page(entry.page), page('configuration.md')];
    const missing = undocumentedSettings(entry.schema, ownPages).filter(
      (path) => !shared.has(path) || (entry.shared !== undefined && undocumentedSettings(entry.shared.schema, [page(entry.shared.page)]).includes(path)),
    );
    expect(missing).toEqual([]);
  });

  it('configuration.md names the settings keymount reads from every instance', () => {
    const paths = settingPaths(providerInstanceSchema);
    expect(paths).toEqual(expect.arrayContaining(['type', 'minRefreshInterval', 'namespaces']));
    expect(undocumentedSettings(providerInstanceSchema, [page('configuration.md')])).toEqual([]);
  });

  it('configuration.md has a row for every serve flag with its environment variable and default', () => {
    const rows = proseLines(page('configuration.md'))
      .map(({ line }) => line)
      .filter((line) => line.startsWith('|'));
    const problems: string[] = [];
    for (const [flag, option] of Object.entries(SERVE_OPTIONS)) {
      const row = rows.find((line) => line.split('|')[1]?.includes(`\`--${flag}\``));
      if (row === undefined) {
        problems.push(`--${flag}: no table row`);
        continue;
      }
      if (!row.includes(`\`${option.env}\``)) problems.push(`--${flag}: its row does not name ${option.env}`);
      if (option.default !== undefined && !row.includes(`\`${option.default}\``)) problems.push(`--${flag}: its row does not give the default ${option.default}`);
    }
    expect(problems).toEqual([]);
  });

  it('errors.md names every gRPC code keymount can answer', () => {
    const union = /export type ErrorCode =([^;]+);/.exec(read(join(PACKAGE_ROOT, 'src', 'errors.ts')))?.[1] ?? '';
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((match) => match[1] ?? '');
    expect(codes.length).toBeGreaterThan(5);
    const rows = proseLines(page('errors.md')).map(({ line }) => line.split('|')[1]?.trim() ?? '');
    expect(codes.filter((code) => !rows.includes(code))).toEqual([]);
  });

  it('operations.md names every keymount metric the driver registers', async () => {
    const metrics = new PrometheusMetrics({ providers: ['local-ca'], version: '0.0.0-test' });
    const names = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name).filter((name) => name.startsWith('keymount_'));
    expect(names.length).toBeGreaterThan(5);
    const spans = codeSpans(page('operations.md'));
    expect(names.filter((name) => !spans.has(name))).toEqual([]);
  });
});

describe('the runnable examples', () => {
  it('finds config-file and pod examples in the docs', () => {
    expect(configExamples.length).toBeGreaterThan(5);
    expect(podVolumeExamples.length).toBeGreaterThan(4);
  });

  describe.each(configExamples.map((example) => [`${example.file}:${example.line}`, example]))('config example %s', (_where, example) => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'keymount-docs-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('is accepted by the config loader and by its provider types', () => {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, JSON.stringify(example.document));
      const config = buildConfig({ config: file }, {}, false);
      for (const [name, instance] of Object.entries(config.providers)) {
        const entry = PROVIDER_PAGES.find((candidate) => candidate.type === instance.type);
        expect(entry, `instance ${name}: type ${instance.type}`).toBeDefined();
        expect(() => entry?.parseSettings(name, instance.settings)).not.toThrow();
      }
    });
  });

  describe('pod volumes, checked as a publish of the instance they name', () => {
    /** Instances by name from the docs' config examples (the first definition of a name wins). */
    const instances = new Map<string, ProviderInstanceConfig>();
    for (const example of configExamples) {
      const providers = (example.document as { providers: Record<string, { type: string } & Record<string, unknown>> }).providers;
      for (const [name, { type, minRefreshInterval: _interval, namespaces, ...settings }] of Object.entries(providers)) {
        if (instances.has(name)) continue;
        // Offline: no CA or TLS files here, so settings naming them are dropped (local-ca then makes a CA).
        const offline = Object.fromEntries(Object.entries(settings).filter(([key]) => !key.endsWith('File')));
        instances.set(name, { type, settings: offline, ...(Array.isArray(namespaces) ? { namespaces: namespaces as string[] } : {}) });
      }
    }
    const registries = new Map<string, ProviderRegistry>();
    let credentials: string;
    beforeAll(() => {
      credentials = mkdtempSync(join(tmpdir(), 'keymount-docs-credentials-'));
      writeFileSync(join(credentials, 'credential'), 'not-a-real-credential\n', { mode: 0o600 });
    });
    afterAll(async () => {
      for (const registry of registries.values()) await registry.close();
      rmSync(credentials, { recursive: true, force: true });
    });

    it.each(podVolumeExamples.map((volume) => [`${volume.example.file}:${volume.example.line} (provider ${volume.attributes.provider ?? '?'})`, volume]))(
      '%s',
      async (_where, volume) => {
        const name = volume.attributes.provider ?? '';
        const instance = instances.get(name);
        expect(instance, `no config example in the docs defines the instance "${name}"`).toBeDefined();
        if (instance === undefined) return;
        let registry = registries.get(name);
        if (registry === undefined) {
          const settings = withCredentialFiles(instance.settings, credentials);
          registry = await ProviderRegistry.create({ [name]: { ...instance, settings } }, BUILT_IN_PROVIDER_TYPES, () => ({ clock: { now: () => new Date() }, logger: SILENT }));
          registries.set(name, registry);
        }
        const podVolume = { podUid: randomUUID(), volumeName: volume.volumeName, volumeId: `csi-${'0'.repeat(64)}`, targetPath: '/nonexistent/mount' };
        const request = publishRequest(podVolume, volume.attributes, { namespace: volume.namespace, podName: 'web-0', serviceAccount: 'web', readOnly: true });
        expect(resolveVolumeSpec(toPublishRequest(request), registry).providerName).toBe(name);
      },
    );
  });
});

/** The driver-identity credential files an example's auth names (token, role ID, secret ID) point at a stand-in file. */
function withCredentialFiles(settings: Readonly<Record<string, unknown>>, dir: string): Record<string, unknown> {
  const auth = settings.auth;
  if (!isRecord(auth)) return { ...settings };
  const replaced = Object.fromEntries(Object.entries(auth).map(([key, value]) => [key, key.endsWith('File') ? join(dir, 'credential') : value]));
  return { ...settings, auth: replaced };
}
