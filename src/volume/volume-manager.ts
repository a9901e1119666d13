/**
 * The volume lifecycle: publish mounts a fresh tmpfs, asks the provider for
 * files and writes them; a republish refreshes them when due; the provider's
 * own schedule (certificate renewal) refreshes them without any call;
 * unpublish removes everything. Operations are idempotent and serialized per
 * volume; a failed publish undoes each step it took; a failed refresh keeps
 * the last good files.
 */
import { KeymountError, failedPrecondition, isKeymountError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { VolumeMetrics } from '../metrics/volume-metrics.js';
import { Sensitive, isUnchanged, type Clock, type FetchResult, type ServiceAccountToken, type Unchanged } from '../provider/contract.js';
import type { ProviderRegistry } from '../provider/registry.js';
import type { Mounter } from '../storage/mounter.js';
import type { TargetDirectories } from '../storage/target-directory.js';
import type { VolumeWriter } from '../storage/atomic-writer.js';
import { toVolumeFiles } from '../storage/volume-files.js';
import { OperationLocks } from './operation-locks.js';
import { RefreshTimers, backoffDelayMs } from './refresh-timers.js';
import type { VolumeRecord, VolumeStateStore } from './state-store.js';
import { resolveVolumeSpec, type VolumeSpec } from './volume-spec.js';
import type { PublishRequest, UnpublishRequest } from './requests.js';

export interface VolumeManagerLimits {
  readonly maxVolumeSizeBytes: number;
  readonly providerTimeoutMs: number;
  /** First wait after a failed refresh; doubles with each further failure. */
  readonly refreshBackoffBaseMs: number;
  readonly refreshBackoffMaxMs: number;
}

export const DEFAULT_REFRESH_BACKOFF = { refreshBackoffBaseMs: 10_000, refreshBackoffMaxMs: 600_000 } as const;

export interface VolumeManagerDependencies {
  readonly registry: ProviderRegistry;
  readonly mounter: Mounter;
  readonly targets: TargetDirectories;
  readonly writer: VolumeWriter;
  readonly state: VolumeStateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: VolumeMetrics;
  readonly limits: VolumeManagerLimits;
}

/** Permission bits of the tmpfs root: the owner (root) and the volume's group may enter. */
const VOLUME_ROOT_MODE = 0o750;
/** Stacked mounts at one target are unmounted one by one, up to this many. */
const MAX_STACKED_MOUNTS = 16;
/** A timer that finds the volume busy tries again this much later. */
const BUSY_RETRY_MS = 1_000;
/** The shortest wait between two refreshes the driver starts on its own. */
const MIN_TIMER_GAP_MS = 1_000;

/** What a refresh needs besides the record; credentials live in memory only, never in the state dir. */
interface LiveVolume {
  readonly spec: VolumeSpec;
  readonly tokens: ReadonlyMap<string, ServiceAccountToken>;
  readonly secrets: Sensitive<Readonly<Record<string, string>>>;
  notAfter: Date | undefined;
}

type RefreshTrigger = 'republish' | 'timer';

export class VolumeManager {
  private readonly locks = new OperationLocks();
  private readonly live = new Map<string, LiveVolume>();
  private readonly timers: RefreshTimers;

  constructor(private readonly deps: VolumeManagerDependencies) {
    this.timers = new RefreshTimers(() => deps.clock.now());
  }

  async publish(request: PublishRequest, signal: AbortSignal): Promise<void> {
    const spec = resolveVolumeSpec(request, this.deps.registry);
    await this.locks.run(request.volumeId, async () => {
      const existing = await this.deps.state.get(request.volumeId);
      if (existing !== undefined) {
        if (await this.isRepeatOf(existing, request, spec)) {
          this.remember(request.volumeId, spec, request, existing.notAfter);
          await this.refreshIfDue(existing, signal);
          return;
        }
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
      this.timers.cancel(request.volumeId);
      const record = await this.deps.state.get(request.volumeId);
      if (record !== undefined) await this.releaseProviderState(record.provider, request.volumeId);
      await this.removeMounts(request.targetPath);
      if (await this.deps.mounter.hasMountsBelow(request.targetPath)) {
        throw failedPrecondition(`target path ${request.targetPath} has other mounts inside it; keymount leaves them alone`);
      }
      await this.deps.targets.remove(request.targetPath);
      await this.deps.state.delete(request.volumeId);
      this.forget(request.volumeId, record?.provider);
    });
  }

  /**
   * Start-up: resumes the volumes a previous run published (their mounts live
   * in the host's mount namespace and survive the driver), and cleans up after
   * publishes that were interrupted or whose target is gone.
   */
  async recover(): Promise<{ resumed: number; cleaned: number }> {
    let resumed = 0;
    let cleaned = 0;
    for (const record of await this.deps.state.list()) {
      await this.locks.run(record.volumeId, async () => {
        const mount = await this.deps.mounter.findMount(record.targetPath);
        if (record.phase === 'published' && mount?.fsType === 'tmpfs') {
          this.resume(record);
          resumed++;
          return;
        }
        await this.removeMounts(record.targetPath);
        if (record.createdTargetDir) await this.deps.targets.remove(record.targetPath);
        await this.deps.state.delete(record.volumeId);
        cleaned++;
        this.deps.logger.info({ volumeId: record.volumeId, targetPath: record.targetPath, phase: record.phase }, 'cleaned up a volume left by an earlier run');
      });
    }
    return { resumed, cleaned };
  }

  /** Stops the timers; volumes stay mounted for the next driver. */
  close(): void {
    this.timers.cancelAll();
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
    const created = (await this.deps.targets.inspect(request.targetPath)) === 'missing';
    const record: VolumeRecord = {
      volumeId: request.volumeId,
      targetPath: request.targetPath,
      provider: spec.providerName,
      fingerprint: spec.fingerprint,
      phase: 'publishing',
      createdTargetDir: created,
      readOnly: request.readOnly,
      mountGroup: request.mountGroup,
      attributes: request.attributes,
      pod: request.pod,
      versions: {},
      publishedAt: undefined,
      lastFetchAt: undefined,
      notAfter: undefined,
      refreshAt: undefined,
      failures: 0,
      retryAfter: undefined,
      lastError: undefined,
    };
    let mounted = false;
    try {
      // The record comes first, so a crash at any later step leaves something recover() can clean up.
      await this.deps.state.put(record);
      if (created) await this.deps.targets.create(request.targetPath);
      await this.deps.mounter.mountTmpfs(request.targetPath, {
        sizeBytes: this.deps.limits.maxVolumeSizeBytes,
        mode: VOLUME_ROOT_MODE,
        gid: spec.gid,
      });
      mounted = true;
      this.remember(request.volumeId, spec, request, undefined);
      const outcome = await this.fetch(record, {}, signal);
      if (isUnchanged(outcome)) {
        throw new KeymountError('FAILED_PRECONDITION', `provider "${spec.providerName}" answered "unchanged" to a first fetch`);
      }
      await this.writeFiles(record, spec, outcome);
      const now = this.deps.clock.now().toISOString();
      const published = { ...this.afterSuccess(record, outcome), phase: 'published' as const, publishedAt: now };
      await this.deps.state.put(published);
      this.remember(request.volumeId, spec, request, published.notAfter);
      this.scheduleRenewal(published);
      this.reportMounted(spec.providerName);
    } catch (error) {
      this.forget(request.volumeId, undefined);
      await this.rollback(request, created, mounted);
      throw error;
    }
  }

  /** A republish: fetch again if the volume's refresh interval has passed and no backoff is running. */
  private async refreshIfDue(record: VolumeRecord, signal: AbortSignal): Promise<void> {
    const live = this.live.get(record.volumeId);
    if (live === undefined) return;
    const now = this.deps.clock.now().getTime();
    if (record.retryAfter !== undefined && now < Date.parse(record.retryAfter)) {
      this.deps.metrics.refreshFinished(record.provider, 'skipped');
      return;
    }
    const lastFetch = record.lastFetchAt !== undefined ? Date.parse(record.lastFetchAt) : 0;
    const renewalDue = record.refreshAt !== undefined && now >= Date.parse(record.refreshAt);
    if (now - lastFetch < live.spec.refreshIntervalMs && !renewalDue) return;
    await this.refresh(record, signal, 'republish');
  }

  /**
   * Fetches again and swaps the whole file set when anything changed. Never
   * throws: on failure the last good files stay, and the failure is recorded
   * with a backoff.
   */
  private async refresh(record: VolumeRecord, signal: AbortSignal, trigger: RefreshTrigger): Promise<void> {
    const live = this.live.get(record.volumeId);
    if (live === undefined) return;
    const fields = { volumeId: record.volumeId, provider: record.provider, trigger };
    try {
      const outcome = await this.fetch(record, record.versions, signal);
      if (!isUnchanged(outcome)) await this.writeFiles(record, live.spec, outcome);
      const updated = this.afterSuccess(record, outcome);
      await this.deps.state.put(updated);
      live.notAfter = updated.notAfter !== undefined ? new Date(updated.notAfter) : undefined;
      this.reportMounted(record.provider);
      this.scheduleRenewal(updated);
      const outcomeName = isUnchanged(outcome) ? 'unchanged' : 'changed';
      this.deps.metrics.refreshFinished(record.provider, outcomeName);
      if (trigger === 'timer' && outcomeName === 'changed') this.deps.metrics.renewalFinished(record.provider, 'renewed');
      this.deps.logger.info({ ...fields, outcome: outcomeName }, 'volume refreshed');
    } catch (error) {
      const failures = record.failures + 1;
      const delay = backoffDelayMs(failures, this.deps.limits.refreshBackoffBaseMs, this.deps.limits.refreshBackoffMaxMs);
      const retryAfter = new Date(this.deps.clock.now().getTime() + delay);
      const failed: VolumeRecord = {
        ...record,
        failures,
        retryAfter: retryAfter.toISOString(),
        lastError: isKeymountError(error) ? error.message : 'internal error (see the driver log)',
      };
      await this.deps.state.put(failed).catch((stateError: unknown) => {
        this.deps.logger.error({ ...fields, err: stateError }, 'cannot record a failed refresh');
      });
      this.deps.metrics.refreshFinished(record.provider, 'failed');
      if (trigger === 'timer') this.deps.metrics.renewalFinished(record.provider, 'failed');
      this.deps.logger.warn({ ...fields, failures, retryAfter, err: error }, 'refresh failed; keeping the last good files');
      // A renewal that failed is retried on its own; a failed republish refresh waits for the next republish.
      if (failed.refreshAt !== undefined) this.scheduleAt(failed.volumeId, retryAfter);
    }
  }

  private afterSuccess(record: VolumeRecord, outcome: FetchResult | Unchanged): VolumeRecord {
    const now = this.deps.clock.now().toISOString();
    const base = { ...record, lastFetchAt: now, failures: 0, retryAfter: undefined, lastError: undefined };
    if (isUnchanged(outcome)) {
      // Without a new time, a schedule that has come due ends: nothing asked for another call.
      const stillAhead = record.refreshAt !== undefined && Date.parse(record.refreshAt) > Date.parse(now) ? record.refreshAt : undefined;
      return { ...base, refreshAt: outcome.refreshAt?.toISOString() ?? stillAhead };
    }
    return {
      ...base,
      versions: outcome.versions,
      notAfter: outcome.notAfter?.toISOString(),
      refreshAt: outcome.refreshAt?.toISOString(),
    };
  }

  private async writeFiles(record: VolumeRecord, spec: VolumeSpec, result: FetchResult): Promise<void> {
    const files = toVolumeFiles(spec.providerName, result.files, {
      defaultMode: spec.fileMode,
      maxTotalBytes: this.deps.limits.maxVolumeSizeBytes,
    });
    const readOnly = record.readOnly && record.phase === 'published';
    if (readOnly) await this.deps.mounter.remount(record.targetPath, false);
    try {
      await this.deps.writer.writeAll(record.targetPath, files, { gid: spec.gid });
    } finally {
      if (record.readOnly) await this.deps.mounter.remount(record.targetPath, true);
    }
  }

  /** Calls the provider, bounded by the caller's deadline and the provider timeout. */
  private async fetch(
    record: VolumeRecord,
    previousVersions: Readonly<Record<string, string>>,
    callSignal: AbortSignal,
  ): Promise<FetchResult | Unchanged> {
    const live = this.live.get(record.volumeId);
    if (live === undefined) throw new KeymountError('INTERNAL', `volume ${record.volumeId} has no live state`);
    const { spec } = live;
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
    let result = 'OK';
    try {
      // A provider that ignores the signal still cannot hold the call past the deadline.
      return await Promise.race([
        spec.provider.fetch(
          {
            volumeId: record.volumeId,
            attributes: spec.providerAttributes,
            pod: record.pod,
            tokens: live.tokens,
            secrets: live.secrets,
            previousVersions,
          },
          signal,
        ),
        aborted,
      ]);
    } catch (error) {
      result = isKeymountError(error) ? error.code : 'INTERNAL';
      throw error;
    } finally {
      aborted.catch(() => undefined);
      const seconds = (performance.now() - started) / 1000;
      this.deps.metrics.fetchFinished(spec.providerName, result, seconds);
      this.deps.logger.debug({ volumeId: record.volumeId, provider: spec.providerName, result, durationMs: Math.round(seconds * 1000) }, 'provider fetch finished');
    }
  }

  /** Keeps what a refresh needs in memory; tokens and secrets are replaced by each republish. */
  private remember(volumeId: string, spec: VolumeSpec, request: PublishRequest, notAfter: string | undefined): void {
    this.live.set(volumeId, {
      spec,
      tokens: request.tokens,
      secrets: request.secrets,
      notAfter: notAfter !== undefined ? new Date(notAfter) : undefined,
    });
  }

  /** Rebuilds a volume's live state from its record after a restart. Tokens come back with the next republish. */
  private resume(record: VolumeRecord): void {
    try {
      const request: PublishRequest = {
        volumeId: record.volumeId,
        targetPath: record.targetPath,
        readOnly: record.readOnly,
        mountGroup: record.mountGroup,
        attributes: record.attributes,
        pod: record.pod,
        tokens: new Map(),
        secrets: new Sensitive({}),
      };
      const spec = resolveVolumeSpec(request, this.deps.registry);
      this.remember(record.volumeId, spec, request, record.notAfter);
      this.scheduleRenewal(record);
      this.reportMounted(record.provider);
    } catch (error) {
      // The admin's config changed under the volume: keep serving its files, refresh nothing.
      this.deps.logger.warn({ volumeId: record.volumeId, provider: record.provider, err: error }, 'cannot resume refreshing a volume; its files stay as they are');
    }
  }

  private scheduleRenewal(record: VolumeRecord): void {
    if (record.refreshAt === undefined) {
      this.timers.cancel(record.volumeId);
      return;
    }
    // Never sooner than MIN_TIMER_GAP_MS from now, so a provider answering with a past time cannot spin.
    const at = Math.max(
      Date.parse(record.refreshAt),
      record.retryAfter !== undefined ? Date.parse(record.retryAfter) : 0,
      this.deps.clock.now().getTime() + MIN_TIMER_GAP_MS,
    );
    this.scheduleAt(record.volumeId, new Date(at));
  }

  private scheduleAt(volumeId: string, at: Date): void {
    this.timers.schedule(volumeId, at, () => {
      void this.onTimer(volumeId);
    });
  }

  private async onTimer(volumeId: string): Promise<void> {
    try {
      await this.locks.run(volumeId, async () => {
        const record = await this.deps.state.get(volumeId);
        if (record?.phase !== 'published') return;
        await this.refresh(record, new AbortController().signal, 'timer');
      });
    } catch (error) {
      if (isKeymountError(error) && error.code === 'ABORTED') {
        this.scheduleAt(volumeId, new Date(this.deps.clock.now().getTime() + BUSY_RETRY_MS));
        return;
      }
      this.deps.logger.error({ volumeId, err: error }, 'scheduled refresh failed');
    }
  }

  private forget(volumeId: string, provider: string | undefined): void {
    const live = this.live.get(volumeId);
    this.live.delete(volumeId);
    this.timers.cancel(volumeId);
    const name = provider ?? live?.spec.providerName;
    if (name !== undefined) this.reportMounted(name);
  }

  private reportMounted(provider: string): void {
    let count = 0;
    let earliest: number | undefined;
    for (const volume of this.live.values()) {
      if (volume.spec.providerName !== provider) continue;
      count++;
      const notAfter = volume.notAfter?.getTime();
      if (notAfter !== undefined && (earliest === undefined || notAfter < earliest)) earliest = notAfter;
    }
    this.deps.metrics.setMountedVolumes(provider, count);
    this.deps.metrics.setEarliestExpiry(provider, earliest === undefined ? undefined : (earliest - this.deps.clock.now().getTime()) / 1000);
  }

  /** Lets the provider revoke what it obtained for the volume; its failure never blocks the unpublish. */
  private async releaseProviderState(providerName: string, volumeId: string): Promise<void> {
    const provider = this.deps.registry.get(providerName)?.provider;
    if (provider?.release === undefined) return;
    try {
      await provider.release(volumeId, AbortSignal.timeout(this.deps.limits.providerTimeoutMs));
    } catch (error) {
      this.deps.logger.warn({ volumeId, provider: providerName, err: error }, 'provider could not release the volume; continuing with unpublish');
    }
  }

  /** Undoes a failed publish; failures here are logged, the original error is what the caller sees. */
  private async rollback(request: PublishRequest, createdTargetDir: boolean, mounted: boolean): Promise<void> {
    const steps: [string, () => Promise<void>][] = [];
    steps.push(['release provider state', () => this.releaseProviderState(request.attributes.provider ?? '', request.volumeId)]);
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
