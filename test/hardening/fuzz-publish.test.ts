/**
 * Property-based fuzzing of NodePublishVolume with random and hostile input.
 * Whatever arrives, the answer is OK or a documented error code (never
 * UNKNOWN or INTERNAL), the driver keeps answering, and a refused request
 * leaves no mount, directory or state record behind.
 */
import { readdirSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StringMap } from '../../src/csi/kubelet-context.js';
import type { NodePublishVolumeRequest__Output as NodePublishVolumeRequest } from '../../src/generated/csi/v1/NodePublishVolumeRequest.js';
import type { VolumeCapability__Output as VolumeCapability } from '../../src/generated/csi/v1/VolumeCapability.js';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { IS_ROOT, ROOT_REASON, exists, join, mountsUnder } from '../helpers/system.js';

const DOCUMENTED = new Set<number>([
  status.OK,
  status.INVALID_ARGUMENT,
  status.PERMISSION_DENIED,
  status.FAILED_PRECONDITION,
  status.RESOURCE_EXHAUSTED,
  status.ALREADY_EXISTS,
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
]);

const KNOWN_KEYS = [
  'provider',
  'fileMode',
  'fsGroup',
  'refreshInterval',
  'common-name',
  'dns-names',
  'ip-sans',
  'uri-sans',
  'duration',
  'key-algorithm',
  'key-size',
  'key-encoding',
  'is-ca',
  'key-usages',
  'certificate-file',
  'privatekey-file',
  'ca-file',
  'objects',
  'roleArn',
  'roleName',
  'region',
  'pathTranslation',
  'renew-before',
  'literal-subject',
  'pkcs12-enable',
  'csi.storage.k8s.io/pod.name',
  'csi.storage.k8s.io/serviceAccount.tokens',
];

const YAML_BOMB = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefghij'.split('').map((k, i) => `${k}: &${k} [*${'abcdefghij'[i] ?? 'a'},*${'abcdefghij'[i] ?? 'a'},*${'abcdefghij'[i] ?? 'a'}]`)].join('\n');

const hostileValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.constantFrom(
    'local-ca',
    '',
    '\0',
    '../../etc/passwd',
    '/etc/shadow',
    'a%2Fb',
    '${POD_NAME}${',
    '${POD_NAMESPACE',
    '${NODE_NAME}',
    '${POD_NAME}.${POD_NAMESPACE}.svc',
    '0777',
    '4755',
    '-1',
    '99999999999',
    'true',
    'RSA',
    'Ed25519',
    '1ns',
    '876000h',
    '*.*.svc',
    'spiffe://evil/ns/x/sa/y',
    '{"vault":{"token":"x"}}',
    '{not json',
    YAML_BOMB,
    '- objectName: x\n'.repeat(2000),
    '- objectName: a\n  objectAlias: ../../x\n',
    '- objectName: a\n  secretPath: secret/data/a\n  secretKey: k\n',
    '- {objectName: &x a, objectAlias: *x}\n',
    '- objectName: a\n  jmesPath:\n    - {path: "a[0].b", objectAlias: b}\n',
    '!!binary aGVsbG8=',
    '{' + '"a":'.repeat(2000) + '1' + '}'.repeat(2000),
    '['.repeat(5000),
  ),
  fc.nat({ max: 300_000 }).map((size) => 'x'.repeat(size)),
);

const attributesArbitrary: fc.Arbitrary<StringMap> = fc
  .oneof(
    // Often nothing but the provider, so the accepting side is reached too.
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 3, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...KNOWN_KEYS), fc.string({ maxLength: 20 })), hostileValue, { maxKeys: 8 }) },
  )
  .chain((attributes) => fc.constantFrom('local-ca', 'local-ca', 'aws', 'vault').map((provider) => ({ provider, ...attributes })));

const capabilityArbitrary: fc.Arbitrary<VolumeCapability | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<VolumeCapability>({ mount: { fs_type: '', mount_flags: [], volume_mount_group: '' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }) },
  fc.constant(null),
  fc.constant<VolumeCapability>({ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }),
  fc.record({
    mount: fc.record({ fs_type: fc.constantFrom('', 'tmpfs', 'ext4'), mount_flags: fc.array(fc.string(), { maxLength: 2 }), volume_mount_group: fc.oneof(fc.constant(''), fc.string(), fc.nat().map(String)) }),
    access_mode: fc.oneof(fc.constant(null), fc.record({ mode: fc.constantFrom('UNKNOWN', 'SINGLE_NODE_WRITER', 'MULTI_NODE_MULTI_WRITER', 'SINGLE_NODE_READER_ONLY') as fc.Arbitrary<'UNKNOWN'> })),
  }),
);

describe.skipIf(!IS_ROOT)(`NodePublishVolume under fuzzing (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;

  beforeAll(async () => {
    // Every built-in provider; the backends point at a closed loopback port, so fetches fail as documented.
    harness = await startHarness({
      flags: { 'log-level': 'warn', 'provider-timeout': '1s' },
      providers: {
        'local-ca': { type: 'local-ca', settings: {} },
        aws: { type: 'aws', settings: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' } },
        vault: { type: 'vault', settings: { address: 'http://127.0.0.1:9', auth: { type: 'jwt' } } },
      },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('answers only documented codes and leaves nothing behind a refusal', async () => {
    const seen = new Map<number, number>();
    const codeName = (code: number): string => (status as unknown as Record<number, string>)[code] ?? String(code);
    await fc.assert(
      fc.asyncProperty(
        attributesArbitrary,
        capabilityArbitrary,
        fc.record({ dropVolumeId: fc.boolean(), dropTarget: fc.boolean(), readonly: fc.boolean(), ephemeral: fc.constantFrom('true', 'true', 'false', '') }),
        async (attributes, capability, shape) => {
          const volume = harness.newVolume();
          const base = harness.request(volume, attributes, { readOnly: shape.readonly });
          const request: NodePublishVolumeRequest = {
            ...base,
            volume_id: shape.dropVolumeId && Math.random() < 0.3 ? '' : base.volume_id,
            target_path: shape.dropTarget && Math.random() < 0.3 ? '' : base.target_path,
            volume_capability: capability,
            volume_context: { ...base.volume_context, 'csi.storage.k8s.io/ephemeral': shape.ephemeral },
          };
          const code: number = await harness.client.nodePublishVolume(request).then(
            () => status.OK as number,
            (error: unknown) => (error as { code: number }).code,
          );
          seen.set(code, (seen.get(code) ?? 0) + 1);
          expect(DOCUMENTED.has(code), `code ${codeName(code)} for ${JSON.stringify(attributes).slice(0, 300)}`).toBe(true);
          if (code === (status.OK as number)) await harness.unpublish(volume);
          expect(exists(volume.targetPath)).toBe(false);
          expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
          expect(readdirSync(join(harness.stateDir, 'volumes'))).toEqual([]);
        },
      ),
      { numRuns: 120 },
    );
    // The driver is still up and healthy after all of it.
    expect((await harness.client.probe()).ready?.value).toBe(true);
    // The fuzzer reached both sides of the validation.
    expect(seen.get(status.OK) ?? 0).toBeGreaterThan(0);
    expect(seen.get(status.INVALID_ARGUMENT) ?? 0).toBeGreaterThan(0);
  }, 300_000);
});
