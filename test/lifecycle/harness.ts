/**
 * A VolumeManager on in-memory ports with a scripted provider, for the
 * lifecycle tests: no root, no mounts, no backend.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { NO_METRICS } from '../../src/metrics/volume-metrics.js';
import { Sensitive, type FetchRequest, type FetchResult, type Provider, type ProviderType, type Unchanged } from '../../src/provider/contract.js';
import { ProviderRegistry } from '../../src/provider/registry.js';
import type { PublishRequest } from '../../src/volume/requests.js';
import type { VolumeStateStore } from '../../src/volume/state-store.js';
import { VolumeManager, type VolumeManagerLimits } from '../../src/volume/volume-manager.js';
import { fakeTimeClock, memoryPorts, type MemoryPorts } from '../helpers/memory-ports.js';

export const KUBELET_ROOT = '/var/lib/kubelet';
export const LIMITS: VolumeManagerLimits = { maxVolumeSizeBytes: 1024 * 1024, providerTimeoutMs: 30_000, refreshBackoffBaseMs: 10_000, refreshBackoffMaxMs: 600_000 };

/** What the scripted provider answers and what it was asked. */
export interface ScriptedBackend {
  /** Answers each fetch; the default serves one file "value" at version "1". */
  answer: (request: FetchRequest<unknown>) => Promise<FetchResult | Unchanged>;
  readonly fetches: FetchRequest<unknown>[];
  readonly releases: string[];
  /** When set, release() fails with it. */
  releaseError: Error | undefined;
}

export function fileAnswer(value: string, extra: Partial<FetchResult> = {}): FetchResult {
  return { files: [{ path: 'value', contents: Buffer.from(value) }], versions: { value }, ...extra };
}

function scriptedProviderType(backend: ScriptedBackend): ProviderType {
  const provider: Provider = {
    type: 'scripted',
    attributeKeys: [],
    parseAttributes: () => ({}),
    fetch: (request) => {
      backend.fetches.push(request);
      return backend.answer(request);
    },
    release: (volumeId) => {
      backend.releases.push(volumeId);
      return backend.releaseError === undefined ? Promise.resolve() : Promise.reject(backend.releaseError);
    },
  };
  return { type: 'scripted', create: () => Promise.resolve(provider) };
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface Lifecycle extends MemoryPorts {
  readonly manager: VolumeManager;
  readonly backend: ScriptedBackend;
  readonly logs: LogLine[];
  /** A new manager on the same ports (and the same node), as after a driver restart; `instances` may differ. */
  restart(instances?: readonly string[]): Promise<VolumeManager>;
}

const PINO_WARN = 40;

export function warnings(logs: readonly LogLine[]): string[] {
  return logs.filter((line) => line.level >= PINO_WARN).map((line) => line.msg);
}

export interface LifecycleOptions {
  /** Provider instance names, each a scripted provider on the same backend. */
  readonly instances?: readonly string[];
  /** A state store to use instead of the in-memory one (a FileStateStore on a temp dir). */
  readonly stateStore?: VolumeStateStore;
}

/** A manager on in-memory ports whose registry has one scripted instance per name. */
export async function lifecycle({ instances = ['scripted'], stateStore }: LifecycleOptions = {}): Promise<Lifecycle> {
  const ports = memoryPorts();
  const backend: ScriptedBackend = { answer: () => Promise.resolve(fileAnswer('1')), fetches: [], releases: [], releaseError: undefined };
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString('utf8')) as LogLine);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const build = async (names: readonly string[]): Promise<VolumeManager> => {
    const registry = await ProviderRegistry.create(
      Object.fromEntries(names.map((name) => [name, { type: 'scripted', settings: {} }])),
      [scriptedProviderType(backend)],
      () => ({ clock: fakeTimeClock, logger }),
    );
    return new VolumeManager({ ...ports, state: stateStore ?? ports.state, registry, clock: fakeTimeClock, logger, metrics: NO_METRICS, limits: LIMITS, kubeletRoot: KUBELET_ROOT });
  };
  return { ...ports, manager: await build(instances), backend, logs, restart: (names = instances) => build(names) };
}

/** A kubelet-shaped target path of a pod's volume. */
export function targetOf(podUid: string, volumeName = 'secrets'): string {
  return `${KUBELET_ROOT}/pods/${podUid}/volumes/kubernetes.io~csi/${volumeName}/mount`;
}

export function publishRequest(volumeId: string, overrides: Partial<PublishRequest> = {}): PublishRequest {
  return {
    volumeId,
    targetPath: targetOf(`pod-${volumeId}`),
    readOnly: true,
    mountGroup: undefined,
    attributes: { provider: 'scripted' },
    pod: { namespace: 'team-a', name: 'app', uid: `pod-${volumeId}`, serviceAccountName: 'default' },
    tokens: new Map(),
    secrets: new Sensitive({}),
    ...overrides,
  };
}

export const NEVER_ABORTED = new AbortController().signal;
