/**
 * Class 7 (hygiene) of the tenant-isolation issue: what a pod writes into its
 * volumeAttributes comes back in error messages (the pod's events, the
 * driver's log) only as a short excerpt, and no file name carries a control
 * character. Every attribute of every provider type is published with a value
 * of 256 KiB (the largest the core accepts); each answer must be short and
 * hold no run of the hostile value longer than the excerpt.
 */
import { readdirSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTRIBUTE_KEYS as AWS_ATTRIBUTE_KEYS } from '../../providers/aws/objects.js';
import { VAULT_ATTRIBUTE_KEYS } from '../../providers/vault/attributes.js';
import { VAULT_PKI_ATTRIBUTE_KEYS } from '../../providers/vault/pki-attributes.js';
import { CERTIFICATE_ATTRIBUTE_KEYS } from '../../providers/x509-common/attribute-names.js';
import { MAX_ATTRIBUTE_VALUE_BYTES } from '../../src/csi/validate.js';
import type { StringMap } from '../../src/csi/kubelet-context.js';
import { BUILT_IN_PROVIDER_TYPES } from '../../src/provider/built-in.js';
import type { ProviderFile } from '../../src/provider/contract.js';
import { EXCERPT_MAX_CHARS, controlCharacterReason, excerpt } from '../../src/untrusted-text.js';
import { COMMON_ATTRIBUTES } from '../../src/volume/volume-spec.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, exists, join, mountsUnder } from '../helpers/system.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';

/** A gRPC status message this long is no longer a message: 1 KiB holds any real explanation plus an excerpt. */
const MAX_MESSAGE_CHARS = 1024;
const HOSTILE = 'x';
/** A run of the hostile character longer than an excerpt shows. */
const LONG_RUN = new RegExp(`${HOSTILE}{${EXCERPT_MAX_CHARS + 1},}`);

/** The hostile value, `prefix` first, `suffix` last, exactly as long as the core accepts. */
function hostile(prefix = '', suffix = ''): string {
  return prefix + HOSTILE.repeat(MAX_ATTRIBUTE_VALUE_BYTES - prefix.length - suffix.length) + suffix;
}

/** Shapes that get a 256 KiB value past the first checks of the attribute's parser, into the deeper ones. */
function hostileValues(key: string): string[] {
  const long = HOSTILE.repeat(MAX_ATTRIBUTE_VALUE_BYTES / 2);
  return [
    hostile(),
    hostile('a,'),
    hostile('1'),
    hostile('CN='),
    hostile('CN=a,O='),
    hostile('O=a+'),
    hostile('', '=a'),
    hostile('spiffe://'),
    hostile('https://'),
    hostile('secret/'),
    // A YAML object list (aws and vault "objects"), each field hostile in turn.
    ...(key === 'objects'
      ? [
          `- objectName: ${long}\n`,
          `- objectName: a\n  objectType: ${long}\n`,
          `- objectName: a\n  objectAlias: ${long}\n  secretPath: s/a\n`,
          `- objectName: a\n  secretPath: ${long}\n`,
          `- objectName: a\n  secretPath: s/a\n  secretKey: k\n  encoding: ${long}\n`,
          `- objectName: a\n  secretPath: s/a\n  method: ${long}\n`,
          `- objectName: a\n  secretPath: s/a\n  filePermission: "${long}"\n`,
          `- objectName: a\n  ${long}: b\n`,
          `- objectName: a\n  jmesPath:\n    - {path: "${long}", objectAlias: b}\n`,
          `- objectName: a\n  jmesPath:\n    - {path: a, objectAlias: "${long}"}\n`,
          `- objectName: a\n  objectVersionLabel: ${long}\n`,
          `- objectName: *${long}\n`,
          `- {objectName: a, secretPath: "s/a", ${long}\n`,
        ]
      : []),
  ];
}

const CALL_DEADLINE_MS = 10_000;
/** What a refusal may be: the pod's mistake, or (for a value that parses) the backend on the closed port. */
const REFUSALS = new Set<number>([status.INVALID_ARGUMENT, status.FAILED_PRECONDITION, status.PERMISSION_DENIED, status.UNAVAILABLE]);

/** Where an answer is no proper refusal, or its message too long or echoing a long run of the value. */
function overlong(where: string, answer: { code: number; details: string }): string[] {
  const { code, details } = answer;
  const wrong = !REFUSALS.has(code) || details.length >= MAX_MESSAGE_CHARS || LONG_RUN.test(details);
  return wrong ? [`${where}: ${status[code]} (${details.length} characters) ${details.slice(0, 200)}`] : [];
}

describe.skipIf(!IS_ROOT)(`hostile input in error messages and file names (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  let returnedFiles: readonly ProviderFile[] = [];

  beforeAll(async () => {
    // Every built-in provider type; the backends point at a closed loopback port, so fetches fail as documented.
    harness = await startHarness({
      flags: { 'log-level': 'warn', 'provider-timeout': '1s' },
      providers: {
        'local-ca': { type: 'local-ca', settings: {} },
        aws: { type: 'aws', settings: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' } },
        vault: { type: 'vault', settings: { address: 'http://127.0.0.1:9', auth: { type: 'jwt' } } },
        'vault-pki': { type: 'vault-pki', settings: { address: 'http://127.0.0.1:9', auth: { type: 'jwt' }, pkiRole: 'shop' } },
        fixed: { type: 'fixed-files', settings: {} },
      },
      providerTypes: [...BUILT_IN_PROVIDER_TYPES, fixedFilesProviderType(() => returnedFiles)],
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  /**
   * Refusals are answered while parsing, in milliseconds. A status message too large for HTTP/2 trailers never
   * reaches the client (the call runs into its deadline on Node 20, a protocol error on Node 24): a short deadline.
   */
  async function refusal(attributes: StringMap): Promise<{ code: number; details: string }> {
    const volume = harness.newVolume();
    const answer = await callError(harness.client.nodePublishVolume(harness.request(volume, attributes), CALL_DEADLINE_MS));
    expect(exists(volume.targetPath)).toBe(false);
    return answer;
  }

  /** Valid attributes of each instance, so a hostile value of one key reaches that key's parser (the rest would pass). */
  const validAttributes: Record<string, StringMap> = {
    'local-ca': {},
    aws: { roleArn: 'arn:aws:iam::123456789012:role/app', objects: '- objectName: app\n' },
    vault: { roleName: 'app', objects: '- objectName: a\n  secretPath: secret/data/a\n' },
    'vault-pki': { roleName: 'app', 'common-name': 'web' },
  };

  const keysByProvider: Record<string, readonly string[]> = {
    'local-ca': CERTIFICATE_ATTRIBUTE_KEYS,
    aws: AWS_ATTRIBUTE_KEYS,
    vault: VAULT_ATTRIBUTE_KEYS,
    'vault-pki': VAULT_PKI_ATTRIBUTE_KEYS,
  };

  it('quotes at most a short excerpt of a 256 KiB value, for every attribute of every provider type', async () => {
    let refused = 0;
    const violations: string[] = [];
    for (const [provider, keys] of Object.entries(keysByProvider)) {
      for (const key of [...COMMON_ATTRIBUTES, ...keys]) {
        for (const value of key === 'provider' ? [hostile()] : hostileValues(key)) {
          const attributes = key === 'provider' ? { provider: value } : { provider, ...validAttributes[provider], [key]: value };
          // Every answer is a refusal (these values are all wrong), never an accepted 256 KiB name.
          violations.push(...overlong(`${provider} ${key} ${JSON.stringify(value.slice(0, 24))}`, await refusal(attributes)));
          refused += 1;
        }
      }
      // A 256 KiB unknown key.
      violations.push(...overlong(`${provider} unknown key`, await refusal({ provider, [hostile()]: 'v' })));
    }
    // A 256 KiB fsType.
    const volume = harness.newVolume();
    const request = harness.request(volume, { provider: 'local-ca' });
    const capability = { mount: { fs_type: hostile(), mount_flags: [], volume_mount_group: '' }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
    violations.push(...overlong('fs_type', await callError(harness.client.nodePublishVolume({ ...request, volume_capability: capability }, CALL_DEADLINE_MS))));
    expect(violations).toEqual([]);
    expect(refused).toBeGreaterThan(100);
    // Nothing stayed behind, and the log holds no long run either.
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
    expect(readdirSync(join(harness.stateDir, 'volumes'))).toEqual([]);
    const longLogFields = harness.logLines.flatMap((line) =>
      Object.entries(JSON.parse(line) as Record<string, unknown>)
        .filter(([, value]) => LONG_RUN.test(JSON.stringify(value)))
        .map(([field]) => field),
    );
    expect(longLogFields).toEqual([]);
  }, 300_000);

  it('refuses file names with control characters, from a provider and from attributes, writing nothing', async () => {
    const names = ['a\nb', 'tls\r.crt', 'bell\u0007', 'del\u007f', 'c1\u0085', 'c1\u009b[31m', 'line\u2028sep', 'para\u2029sep', 'bidi\u202e.crt', 'dir/\u001b[2J'];
    for (const name of names) {
      returnedFiles = [
        { path: 'ok', contents: Buffer.from('fine\n') },
        { path: name, contents: Buffer.from('x\n') },
      ];
      const fromProvider = await refusal({ provider: 'fixed' });
      expect(fromProvider.code, JSON.stringify(name)).toBe(status.FAILED_PRECONDITION);
      expect(fromProvider.details).toContain(`returned the file path ${excerpt(name)}, which contains the control character U+`);
      // Messages show the character escaped, never raw (a raw one could forge a line of the log or an event).
      const raw = Array.from(name).filter((character) => controlCharacterReason(character) !== undefined);
      expect(raw.length).toBeGreaterThan(0);
      const showsRaw = (details: string): boolean => raw.some((character) => details.includes(character));
      expect(showsRaw(fromProvider.details)).toBe(false);

      const awsAlias = await refusal({ ...validAttributes.aws, provider: 'aws', objects: `- objectName: s\n  objectAlias: ${JSON.stringify(name)}` });
      expect(awsAlias.code, JSON.stringify(name)).toBe(status.INVALID_ARGUMENT);
      expect(awsAlias.details).toContain('objects[0].objectAlias');
      expect(awsAlias.details).toContain('contains the control character U+');
      expect(showsRaw(awsAlias.details)).toBe(false);

      const vaultName = await refusal({ ...validAttributes.vault, provider: 'vault', objects: `- objectName: ${JSON.stringify(name)}\n  secretPath: secret/data/a` });
      expect(vaultName.code, JSON.stringify(name)).toBe(status.INVALID_ARGUMENT);
      expect(vaultName.details).toMatch(/contain(s the)? control character/);
      expect(showsRaw(vaultName.details)).toBe(false);

      const certificateFile = await refusal({ provider: 'local-ca', 'certificate-file': name });
      expect([status.INVALID_ARGUMENT, status.FAILED_PRECONDITION], JSON.stringify(name)).toContain(certificateFile.code);
    }
    expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
    expect(readdirSync(join(harness.stateDir, 'volumes'))).toEqual([]);
  });
});
