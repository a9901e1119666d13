/**
 * Every malformed NodePublishVolume gets INVALID_ARGUMENT naming the field,
 * before any side effect: no mount, no directory, no state record.
 */
import { readdirSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodePublishVolumeRequest__Output as NodePublishVolumeRequest } from '../../src/generated/csi/v1/NodePublishVolumeRequest.js';
import type {
  _csi_v1_VolumeCapability_MountVolume__Output as MountVolume,
  VolumeCapability__Output as VolumeCapability,
} from '../../src/generated/csi/v1/VolumeCapability.js';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import type { PodVolume } from '../helpers/kubelet.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';
import { exists, join, mountsUnder } from '../helpers/system.js';

type Mutation = (request: NodePublishVolumeRequest, volume: PodVolume) => NodePublishVolumeRequest;

const withContext = (request: NodePublishVolumeRequest, changes: Record<string, string | undefined>): NodePublishVolumeRequest => {
  const context = { ...request.volume_context };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) Reflect.deleteProperty(context, key);
    else context[key] = value;
  }
  return { ...request, volume_context: context };
};

const mountCapability = (changes: Partial<MountVolume>): VolumeCapability => ({
  mount: { fs_type: '', mount_flags: [], volume_mount_group: '', ...changes },
  access_mode: { mode: 'SINGLE_NODE_WRITER' },
});

const CASES: [string, Mutation, RegExp][] = [
  ['missing volume_id', (r) => ({ ...r, volume_id: '' }), /^volume_id is required$/],
  ['missing target_path', (r) => ({ ...r, target_path: '' }), /^target_path is required$/],
  ['relative target_path', (r) => ({ ...r, target_path: 'pods/x/mount' }), /target_path "pods\/x\/mount" must be absolute/],
  ['target_path with ..', (r, v) => ({ ...r, target_path: `${v.targetPath}/../../escape` }), /must be a clean path/],
  ['missing volume_capability', (r) => ({ ...r, volume_capability: null }), /^volume_capability is required$/],
  ['block capability', (r) => ({ ...r, volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } }), /block volume/],
  ['multi-node access mode', (r) => ({ ...r, volume_capability: { mount: mountCapability({}).mount ?? null, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } } }), /access_mode MULTI_NODE_MULTI_WRITER is not supported/],
  ['missing access mode', (r) => ({ ...r, volume_capability: { mount: mountCapability({}).mount ?? null, access_mode: null } }), /access_mode UNKNOWN/],
  ['an fsType other than tmpfs', (r) => ({ ...r, volume_capability: mountCapability({ fs_type: 'ext4' }) }), /fs_type "ext4" is not supported/],
  ['mount flags', (r) => ({ ...r, volume_capability: mountCapability({ mount_flags: ['exec'] }) }), /mount_flags are not supported/],
  ['a non-numeric volume_mount_group', (r) => ({ ...r, volume_capability: mountCapability({ volume_mount_group: 'wheel' }) }), /volume_mount_group "wheel" must be a numeric group ID/],
  ['a persistent (non-ephemeral) volume', (r) => withContext(r, { 'csi.storage.k8s.io/ephemeral': 'false' }), /serves only CSI ephemeral inline volumes/],
  ['no pod info (podInfoOnMount off)', (r) => withContext(r, { 'csi.storage.k8s.io/pod.namespace': undefined }), /podInfoOnMount: true/],
  ['malformed service-account tokens', (r) => withContext(r, { 'csi.storage.k8s.io/serviceAccount.tokens': '{not json' }), /serviceAccount.tokens is not valid JSON/],
  ['no provider', (r) => withContext(r, { provider: undefined }), /volumeAttributes.provider is required: .*\(fixed\)/],
  ['an unknown provider', (r) => withContext(r, { provider: 'vault' }), /provider "vault" is not a configured provider instance; configured: fixed/],
  ['a misspelt attribute', (r) => withContext(r, { filemode: '0440' }), /unknown key "filemode" .*did you mean "fileMode"/],
  ['a non-octal fileMode', (r) => withContext(r, { fileMode: '0999' }), /fileMode "0999" must be octal/],
  ['a non-numeric fsGroup', (r) => withContext(r, { fsGroup: '-1' }), /fsGroup "-1" must be a numeric group ID/],
  ['an oversized attribute', (r) => withContext(r, { provider: 'x'.repeat(300 * 1024) }), /volumeAttributes.provider is 307200 bytes, over the limit of 262144/],
];

describe('NodePublishVolume refuses malformed requests before any side effect', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [fixedFilesProviderType(() => [{ path: 'a', contents: Buffer.from('a') }])],
      providers: { fixed: { type: 'fixed-files', settings: {} } },
    });
  });
  afterAll(async () => {
    await harness.stop();
  });

  it.each(CASES)('%s', async (_name, mutate, message) => {
    const volume = harness.newVolume();
    const request = mutate(harness.request(volume, { provider: 'fixed' }), volume);
    const failure = await callError(harness.client.nodePublishVolume(request));
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toMatch(message);
    expect(exists(volume.targetPath)).toBe(false);
    expect(mountsUnder(harness.root)).toEqual([]);
    expect(readdirSync(join(harness.stateDir, 'volumes'))).toEqual([]);
  });

  it('refuses NodeUnpublishVolume without volume_id or target_path', async () => {
    const noId = await callError(harness.client.nodeUnpublishVolume({ volume_id: '', target_path: '/x/mount' }));
    expect(noId).toEqual({ code: status.INVALID_ARGUMENT, details: 'volume_id is required' });
    const noTarget = await callError(harness.client.nodeUnpublishVolume({ volume_id: 'v', target_path: '' }));
    expect(noTarget).toEqual({ code: status.INVALID_ARGUMENT, details: 'target_path is required' });
  });

  it.each(['/csi.v1.Node/NodeGetVolumeStats', '/csi.v1.Node/NodeStageVolume', '/csi.v1.Controller/CreateVolume'])(
    'answers UNIMPLEMENTED to %s, which keymount does not serve',
    async (path) => {
      const client = new grpc.Client(`unix://${harness.socketPath}`, grpc.credentials.createInsecure());
      const failure = await callError(
        new Promise((resolve, reject) => {
          client.makeUnaryRequest(path, (value: Buffer) => value, (value: Buffer) => value, Buffer.alloc(0), (error, value) => {
            if (error) reject(error);
            else resolve(value);
          });
        }),
      );
      client.close();
      expect(failure.code).toBe(status.UNIMPLEMENTED);
    },
  );
});
