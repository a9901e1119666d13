import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError } from '../../src/config/config.js';
import { formatBytes, parseDuration, parseSize } from '../../src/config/units.js';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'keymount-config-')), 'keymount.yaml');
  writeFileSync(file, text);
  return file;
}

describe('config', () => {
  it('has defaults that serve the built-in local-ca on /csi/csi.sock', () => {
    const config = buildConfig({ 'node-id': 'n1' }, {}, false);
    expect(config).toMatchObject({
      socketPath: '/csi/csi.sock',
      driverName: 'keymount.csi.io',
      nodeId: 'n1',
      stateDir: '/run/keymount',
      maxVolumeSizeBytes: 4 * 1024 * 1024,
      providerTimeoutMs: 30_000,
      providers: { 'local-ca': { type: 'local-ca', settings: {} } },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.providers)).toBe(true);
  });

  it('reads CSI_ENDPOINT and NODE_ID, and flags win over them', () => {
    const fromEnv = buildConfig({}, { CSI_ENDPOINT: 'unix:///var/run/k.sock', NODE_ID: 'node-a' }, false);
    expect(fromEnv.socketPath).toBe('/var/run/k.sock');
    expect(fromEnv.nodeId).toBe('node-a');
    const fromFlags = buildConfig({ 'node-id': 'node-b' }, { NODE_ID: 'node-a' }, false);
    expect(fromFlags.nodeId).toBe('node-b');
  });

  it.each([
    [{ endpoint: 'tcp://0.0.0.0:1' }, '--endpoint must be unix://PATH'],
    [{ 'max-volume-size': 'lots' }, '--max-volume-size "lots" must be a size'],
    [{ 'provider-timeout': 'soon' }, '--provider-timeout "soon" must be a duration'],
    [{ 'driver-name': '-bad-' }, '--driver-name must be a DNS-style name'],
    [{ 'log-level': 'loud' }, '--log-level must be one of'],
  ])('fails fast on %j', (flags, message) => {
    expect(() => buildConfig({ 'node-id': 'n', ...flags }, {}, false)).toThrow(ConfigError);
    expect(() => buildConfig({ 'node-id': 'n', ...flags }, {}, false)).toThrow(message);
  });

  it('reads provider instances from --config, keeping type-specific settings', () => {
    const file = configFile('providers:\n  team-ca:\n    type: local-ca\n    trustDomain: example.org\n');
    const config = buildConfig({ 'node-id': 'n', config: file }, {}, false);
    expect(config.providers).toEqual({ 'team-ca': { type: 'local-ca', minRefreshIntervalMs: 120_000, settings: { trustDomain: 'example.org' } } });
  });

  it('reads namespaces: beside minRefreshInterval, for every provider type, out of the type\'s settings', () => {
    const file = configFile(
      'providers:\n  team-ca:\n    type: local-ca\n    namespaces: [shop, "team-*"]\n    trustDomain: example.org\n' +
        '  kv:\n    type: vault\n    namespaces: ["*"]\n    address: http://127.0.0.1:8200\n',
    );
    const config = buildConfig({ 'node-id': 'n', config: file }, {}, false);
    expect(config.providers['team-ca']).toEqual({
      type: 'local-ca',
      minRefreshIntervalMs: 120_000,
      namespaces: ['shop', 'team-*'],
      settings: { trustDomain: 'example.org' },
    });
    expect(config.providers.kv?.namespaces).toEqual(['*']);
  });

  it('leaves namespaces unset (every namespace) when an instance does not name them', () => {
    const file = configFile('providers:\n  team-ca:\n    type: local-ca\n');
    expect(buildConfig({ 'node-id': 'n', config: file }, {}, false).providers['team-ca']?.namespaces).toBeUndefined();
  });

  it.each([
    ['namespaces: []', 'namespaces must list at least one'],
    ['namespaces: shop', 'namespaces'],
    ['namespaces: ["Shop"]', 'namespaces[0] "Shop"'],
    ['namespaces: ["shop", "a/b"]', 'namespaces[1] "a/b"'],
    ['namespaces: ["sh?p"]', 'namespaces[0]'],
  ])('explains bad namespaces: %s', (line, message) => {
    const file = configFile(`providers:\n  team-ca:\n    type: local-ca\n    ${line}\n`);
    expect(() => buildConfig({ 'node-id': 'n', config: file }, {}, false)).toThrow(message);
  });

  it('lists the problems of every instance at once, each with its instance and setting', () => {
    const file = configFile(
      'providers:\n  a:\n    type: local-ca\n    minRefreshInterval: 1ms\n  b:\n    type: aws\n    namespaces: []\n  Bad_Name:\n    type: local-ca\n',
    );
    let message = '';
    try {
      buildConfig({ 'node-id': 'n', config: file }, {}, false);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain('3 errors in 3 provider instances');
    expect(message).toContain('provider instance "a" (type local-ca): setting "minRefreshInterval": minRefreshInterval "1ms" must be a duration');
    expect(message).toContain('provider instance "b" (type aws): setting "namespaces": namespaces must list at least one');
    expect(message).toContain('provider instance "Bad_Name" (type local-ca): instance name "Bad_Name" must be a lower-case DNS label');
  });

  it.each([
    ['providers: {}\n', 'at least one provider instance is required'],
    ['providers:\n  Bad_Name:\n    type: local-ca\n', 'must be a lower-case DNS label'],
    ['providers:\n  a:\n    settings: {}\n', 'provider instance "a": setting "type": is required'],
    ['provider:\n  a:\n    type: local-ca\n', 'provider'],
    ['providers: [\n', 'is not valid YAML'],
  ])('explains a bad config file: %j', (text, message) => {
    expect(() => buildConfig({ 'node-id': 'n', config: configFile(text) }, {}, false)).toThrow(message);
  });
});

describe('units', () => {
  it.each([
    ['30s', 30_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['2.5s', 2_500],
    ['24h', 86_400_000],
  ])('parses the duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', '10', 'h', '1d', '-1s', '1s2'])('refuses the duration %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
  it.each([
    ['4Mi', 4_194_304],
    ['512Ki', 524_288],
    ['1M', 1_000_000],
    ['4096', 4096],
    ['4MiB', 4_194_304],
  ])('parses the size %s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });
  it.each(['', 'Mi', '1.5Mi', '4 TB'])('refuses the size %j', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
  it('formats sizes the way users write them', () => {
    expect(formatBytes(4_194_304)).toBe('4Mi');
    expect(formatBytes(1536)).toBe('1536 bytes');
    expect(formatBytes(2048)).toBe('2Ki');
  });
});
