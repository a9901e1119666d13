/**
 * The example pods under deploy/examples/: valid Kubernetes objects whose
 * keymount volumes name a provider instance of the example values, with
 * attributes the real provider types accept (checked by the same code a
 * publish runs before any side effect), and the local-ca one published for real.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { ProviderInstanceConfig } from '../../src/config/config.js';
import { toPublishRequest } from '../../src/csi/validate.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { BUILT_IN_PROVIDER_TYPES } from '../../src/provider/built-in.js';
import { ProviderRegistry } from '../../src/provider/registry.js';
import { resolveVolumeSpec } from '../../src/volume/volume-spec.js';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { objectsOf, type KubeObject } from '../helpers/helm.js';
import { publishRequest } from '../helpers/kubelet.js';
import { IS_ROOT, ROOT_REASON, exists, modeOf, visibleFiles } from '../helpers/system.js';
import { KubeSchemas } from './kube-schema.js';
import { podSpecOf, podSpecProblems, type PodSpec, type Volume } from './pod-checks.js';

const EXAMPLES = join(PACKAGE_ROOT, 'deploy', 'examples');
const ALL_PROVIDERS = join(PACKAGE_ROOT, 'deploy', 'helm', 'values-all-providers.yaml');
const DRIVER = 'keymount.csi.io';
const BUILT_IN = new Set(BUILT_IN_PROVIDER_TYPES.map((type) => type.type));
const SILENT = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const exampleValues = parseYaml(readFileSync(ALL_PROVIDERS, 'utf8')) as { providers: Record<string, { type: string } & Record<string, unknown>> };
const files = readdirSync(EXAMPLES).filter((name) => name.endsWith('.yaml')).sort();

interface ExampleVolume {
  readonly file: string;
  readonly pod: KubeObject;
  readonly spec: PodSpec;
  readonly volume: Volume;
}

const exampleVolumes: ExampleVolume[] = files.flatMap((file) =>
  objectsOf(readFileSync(join(EXAMPLES, file), 'utf8'))
    .filter((object) => object.kind === 'Pod')
    .flatMap((pod) => {
      const spec = podSpecOf(pod);
      return (spec.volumes ?? []).filter((volume) => volume.csi !== undefined).map((volume) => ({ file, pod, spec, volume }));
    }),
);

/** The example values' instances with file settings dropped (no CA files here): what can be created offline. */
function offlineConfig(): Record<string, ProviderInstanceConfig> {
  const config: Record<string, ProviderInstanceConfig> = {};
  for (const [name, { type, ...settings }] of Object.entries(exampleValues.providers)) {
    if (!BUILT_IN.has(type)) continue;
    config[name] = { type, settings: Object.fromEntries(Object.entries(settings).filter(([key]) => !key.endsWith('File'))) };
  }
  return config;
}

describe('deploy/examples', () => {
  let schemas: KubeSchemas;
  // The first run fetches the Kubernetes module (its OpenAPI document) through the Go proxy.
  beforeAll(() => {
    schemas = KubeSchemas.load();
  }, 15 * 60_000);

  it('has one example per provider type of the example values', () => {
    const types = new Set(Object.values(exampleValues.providers).map((instance) => instance.type));
    const used = new Set(exampleVolumes.map(({ volume }) => exampleValues.providers[volume.csi?.volumeAttributes?.provider ?? '']?.type));
    expect([...used].sort()).toEqual([...types].sort());
  });

  it.each(files)('%s holds valid Kubernetes objects', (file) => {
    const objects = objectsOf(readFileSync(join(EXAMPLES, file), 'utf8'));
    expect(objects.some((object) => object.kind === 'Pod')).toBe(true);
    for (const object of objects) {
      expect(schemas.validate(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
      if (object.kind === 'Pod') expect(podSpecProblems(podSpecOf(object))).toEqual([]);
    }
  });

  it.each(exampleVolumes.map((example) => [example.file, example] as const))(
    '%s mounts a keymount volume read-only, readable by its non-root container',
    (_file, { spec, volume, pod }) => {
      expect(volume.csi?.driver).toBe(DRIVER);
      expect(volume.csi?.readOnly).toBe(true);
      expect(Object.keys(exampleValues.providers)).toContain(volume.csi?.volumeAttributes?.provider);
      const context = (pod.spec as { securityContext?: { runAsUser?: number; fsGroup?: number } }).securityContext;
      expect(context?.runAsUser).not.toBe(0);
      // keymount's volume root is 0750 root:<group>: a non-root container needs the fsGroup.
      expect(context?.fsGroup).toEqual(expect.any(Number));
      for (const container of spec.containers) {
        const mount = container.volumeMounts?.find((item) => item.name === volume.name);
        if (mount) expect(mount.readOnly).toBe(true);
      }
    },
  );

  describe('attributes, checked by the provider types themselves', () => {
    let registry: ProviderRegistry | undefined;
    beforeAll(async () => {
      registry = await ProviderRegistry.create(offlineConfig(), BUILT_IN_PROVIDER_TYPES, () => ({ clock: { now: () => new Date() }, logger: SILENT }));
    });
    afterAll(async () => {
      await registry?.close();
    });

    for (const example of exampleVolumes) {
      const provider = example.volume.csi?.volumeAttributes?.provider ?? '';
      const type = exampleValues.providers[provider]?.type ?? '';
      it.skipIf(!BUILT_IN.has(type))(
        `${example.file}: accepted as a publish of provider type ${type}${BUILT_IN.has(type) ? '' : ' (skipped: this build has no such provider type yet)'}`,
        () => {
          const attributes = example.volume.csi?.volumeAttributes ?? {};
          // Only validated, never published: nothing is created at this path.
          const podVolume = { podUid: randomUUID(), volumeName: example.volume.name, volumeId: `csi-${'0'.repeat(64)}`, targetPath: '/nonexistent/mount' };
          const request = publishRequest(podVolume, attributes, {
            namespace: 'shop',
            podName: example.pod.metadata.name,
            serviceAccount: example.spec.serviceAccountName ?? 'default',
            readOnly: true,
          });
          if (registry === undefined) throw new Error('the provider instances of the example values did not start');
          const spec = resolveVolumeSpec(toPublishRequest(request), registry);
          expect(spec.providerName).toBe(provider);
        },
      );
    }
  });

  describe.skipIf(!IS_ROOT)(`local-ca.yaml, published as the kubelet would (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
    let harness: Harness;
    beforeAll(async () => {
      harness = await startHarness({ flags: { 'log-level': 'warn' } });
    });
    afterAll(async () => {
      await harness.stop();
    });

    it('gives the pod tls.crt, tls.key and ca.crt, readable by its fsGroup', async () => {
      const example = exampleVolumes.find(({ file }) => file === 'local-ca.yaml');
      if (example === undefined) throw new Error('deploy/examples/local-ca.yaml has no keymount volume');
      const fsGroup = String((example.pod.spec as { securityContext: { fsGroup: number } }).securityContext.fsGroup);
      const volume = harness.newVolume(example.volume.name);
      await harness.publish(volume, example.volume.csi?.volumeAttributes ?? {}, { readOnly: true, mountGroup: fsGroup, podName: example.pod.metadata.name });
      expect(visibleFiles(volume.targetPath)).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
      expect(modeOf(join(volume.targetPath, 'tls.key'))).toBe(0o440);
      expect(statSync(join(volume.targetPath, 'tls.key')).gid).toBe(Number(fsGroup));
      await harness.unpublish(volume);
      expect(exists(volume.targetPath)).toBe(false);
    });
  });
});
