/**
 * The volume lifecycle: publish mounts a fresh tmpfs, asks the provider for
 * files and writes them; unpublish removes everything. Operations are
 * idempotent and serialized per volume; a failed publish undoes each step it
 * took, so the node is left as it was.
 */
import { KeymountError, failedPrecondition } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { isUnchanged, type Clock, type FetchResult, type Unchanged } from '../provider/contract.js';
import type { ProviderRegistry } from '../provider/registry.js';
import type { Mounter } from '../storage/mounter.js';
import type { TargetDirectories } from '../storage/target-directory.js';
import type { VolumeWriter } from '../storage/atomic-writer.js';
import { toVolumeFiles } from '../storage/volume-files.js';
import { OperationLocks } from './operation-locks.js';
import type { VolumeRecord, VolumeStateStore } from './state-store.js';
import { resolveVolumeSpec, type VolumeSpec } from './volume-spec.js';
import type { PublishRequest, UnpublishRequest } from './requests.js';

export interface VolumeManagerLimits {
  readonly maxVolumeSizeBytes: number;
  readonly providerTimeoutMs: number;
}

export interface VolumeManagerDependencies {
  readonly registry: ProviderRegistry;
  readonly mounter: Mounter;
  readonly targets: TargetDirectories;
  readonly writer: VolumeWriter;
  readonly state: VolumeStateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limits: VolumeManagerLimits;
}

/** Permission bits of the tmpfs root: the owner (root) and the volume's group may enter. */
const VOLUME_ROOT_MODE = 0o750;
/** Stacked mounts at one target are unmounted one by one, up to this many. */
const MAX_STACKED_MOUNTS = 16;

export class VolumeManager {
  private readonly locks = new OperationLocks();

  constructor(private readonly deps: VolumeManagerDependencies) {}

  async publish(request: PublishRequest, signal: AbortSignal): Promise<void> {
    const spec = resolveVolumeSpec(request, this.deps.registry);
    await this.locks.run(request.volumeId, async () => {
      const existing = await this.deps.state.get(request.volumeId);
      if (existing !== undefined) {
        if (await this.isRepeatOf(existing, request, spec)) return;
        // An interrupted publish, or a mount lost since (node reboot): start over.
        await this.removeMounts(existing.targetPath);
        await this.deps.state.delete(existing.volumeId);
      } else if ((await this.deps.mounter.findMount(request.targetPath)) !== undefined) {
        // Mounted but unknown: a publish whose record was lost. Its content is re-created below.
        this.deps.logger.warn({ volumeId: request.volumeId, targetPath: request.targetPath }, 'replacing a mount keymount has no record of');
        await this.removeMounts(request.targetPath);
      }
      await this.publishFresh(request, spec, signal);
    });
  }

  async unpublish(request: UnpublishRequest): Promise<void> {
    await this.locks.run(request.volumeId, async () => {
      await this.removeMounts(request.targetPath);
      if (await this.deps.mounter.hasMountsBelow(request.targetPath)) {
        throw failedPrecondition(`target path ${request.targetPath} has other mounts inside it; keymount leaves them alone`);
      }
      await this.deps.targets.remove(request.targetPath);
      await this.deps.state.delete(request.volumeId);
    });
  }

  /** Whether the volume is already published exactly as asked (an idempotent repeat). */
  private async isRepeatOf(existing: VolumeRecord, request: PublishRequest, spec: VolumeSpec): Promise<boolean> {
    if (existing.targetPath !== request.targetPath) {
      throw new KeymountError('ALREADY_EXISTS', `volume ${request.volumeId} is already published at ${existing.targetPath}`);
    }
    if (existing.phase !== 'published') return false;
    if (existing.fingerprint !== spec.fingerprint) {
      throw new KeymountError(
        'ALREADY_EXISTS',
        `volume ${request.volumeId} is already published at this target with different attributes; volume attributes cannot change while the pod runs`,
      );
    }
    const mount = await this.deps.mounter.findMount(request.targetPath);
    return mount?.fsType === 'tmpfs';
  }

  private async publishFresh(request: PublishRequest, spec: VolumeSpec, signal: AbortSignal): Promise<void> {
    const { created } = await this.deps.targets.prepare(request.targetPath);
    const record: VolumeRecord = {
      volumeId: request.volumeId,
      targetPath: request.targetPath,
      provider: spec.providerName,
      fingerprint: spec.fingerprint,
      phase: 'publishing',
      createdTargetDir: created,
      readOnly: request.readOnly,
      versions: {},
      publishedAt: undefined,
      notAfter: undefined,
    };
    let mounted = false;
    try {
      await this.deps.state.put(record);
      await this.deps.mounter.mountTmpfs(request.targetPath, {
        sizeBytes: this.deps.limits.maxVolumeSizeBytes,
        mode: VOLUME_ROOT_MODE,
        gid: spec.gid,
      });
      mounted = true;
      const result = await this.fetch(request, spec, signal);
      const files = toVolumeFiles(spec.providerName, result.files, {
        defaultMode: spec.fileMode,
        maxTotalBytes: this.deps.limits.maxVolumeSizeBytes,
      });
      await this.deps.writer.writeAll(request.targetPath, files, { gid: spec.gid });
      if (request.readOnly) await this.deps.mounter.remount(request.targetPath, true);
      await this.deps.state.put({
        ...record,
        phase: 'published',
        versions: result.versions,
        publishedAt: this.deps.clock.now().toISOString(),
        notAfter: result.notAfter?.toISOString(),
      });
    } catch (error) {
      await this.rollback(request, created, mounted);
      throw error;
    }
  }

  /** Calls the provider, bounded by the caller's deadline and the provider timeout. */
  private async fetch(request: PublishRequest, spec: VolumeSpec, callSignal: AbortSignal): Promise<FetchResult> {
    const outcome = await this.fetchOutcome(request, spec, callSignal);
    if (isUnchanged(outcome)) {
      throw new KeymountError('FAILED_PRECONDITION', `provider "${spec.providerName}" answered "unchanged" to a first fetch`);
    }
    return outcome;
  }

  private async fetchOutcome(request: PublishRequest, spec: VolumeSpec, callSignal: AbortSignal): Promise<FetchResult | Unchanged> {
    const timeoutMs = this.deps.limits.providerTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([callSignal, timeout]);
    const aborted = new Promise<never>((_resolve, reject) => {
      const onAbort = (): void => {
        const reason = timeout.aborted
          ? `provider "${spec.providerName}" did not answer within ${timeoutMs / 1000}s (--provider-timeout)`
          : `the caller's deadline passed while provider "${spec.providerName}" was fetching`;
        reject(new KeymountError('DEADLINE_EXCEEDED', reason));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const started = performance.now();
    try {
      // A provider that ignores the signal still cannot hold the call past the deadline.
      return await Promise.race([
        spec.provider.fetch(
          {
            attributes: spec.providerAttributes,
            volumeId: request.volumeId,
            pod: request.pod,
            tokens: request.tokens,
            secrets: request.secrets,
            previousVersions: {},
          },
          signal,
        ),
        aborted,
      ]);
    } finally {
      aborted.catch(() => undefined);
      this.deps.logger.debug(
        { volumeId: request.volumeId, provider: spec.providerName, durationMs: Math.round(performance.now() - started) },
        'provider fetch finished',
      );
    }
  }

  /** Undoes a failed publish; failures here are logged, the original error is what the caller sees. */
  private async rollback(request: PublishRequest, createdTargetDir: boolean, mounted: boolean): Promise<void> {
    const steps: [string, () => Promise<void>][] = [];
    if (mounted) steps.push(['unmount', () => this.removeMounts(request.targetPath)]);
    if (createdTargetDir) steps.push(['remove target directory', () => this.deps.targets.remove(request.targetPath)]);
    steps.push(['delete state record', () => this.deps.state.delete(request.volumeId)]);
    for (const [step, run] of steps) {
      try {
        await run();
      } catch (error) {
        this.deps.logger.error({ err: error, volumeId: request.volumeId, step }, 'rollback of a failed publish is incomplete');
      }
    }
  }

  private async removeMounts(target: string): Promise<void> {
    for (let count = 0; count < MAX_STACKED_MOUNTS; count++) {
      if ((await this.deps.mounter.findMount(target)) === undefined) return;
      await this.deps.mounter.unmount(target);
    }
    throw failedPrecondition(`target path ${target} is still mounted after ${MAX_STACKED_MOUNTS} unmounts`);
  }
}
