/**
 * The volume lifecycle: publish mounts a fresh tmpfs where only the driver
 * can reach it, asks the provider for files, writes them there and binds the
 * tmpfs read-only at the target; a republish refreshes them when due; the
 * provider's own schedule (certificate renewal) refreshes them without any
 * call; unpublish removes everything. Operations are idempotent and
 * serialized per volume; a failed publish undoes each step it took; a failed
 * refresh keeps the last good files.
 */
import { KeymountError, failedPrecondition, isKeymountError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { VolumeMetrics } from '../metrics/volume-metrics.js';
import { Sensitive, isUnchanged, type Clock, type FetchResult, type ServiceAccountToken, type Unchanged } from '../provider/contract.js';
import type { ProviderRegistry } from '../provider/registry.js';
import type { MountEntry, Mounter } from '../storage/mounter.js';
import { LEGACY_MOUNT_SOURCE, mountSourceOf, type PrivateMounts } from '../storage/private-mounts.js';
import type { TargetDirectories } from '../storage/target-directory.js';
import type { VolumeWriter } from '../storage/atomic-writer.js';
import { toVolumeFiles } from '../storage/volume-files.js';
import { isKubeletTargetPath } from './kubelet-paths.js';
import { OperationLocks } from './operation-locks.js';
import { RefreshTimers, backoffDelayMs } from './refresh-timers.js';
import { RECORD_VERSION, type VolumeRecord, type VolumeStateStore } from './state-store.js';
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
  /** Where each volume's tmpfs is mounted and written, out of every pod's reach. */
  readonly privateMounts: PrivateMounts;
  readonly targets: TargetDirectories;
  readonly writer: VolumeWriter;
  readonly state: VolumeStateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: VolumeMetrics;
  readonly limits: VolumeManagerLimits;
  /** The kubelet's root dir: a record's target path is honoured only below it, in the kubelet's shape. */
  readonly kubeletRoot: string;
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
  /** Refreshes started by a timer and still running, so an unpublish can cancel them. */
  private readonly timerRefreshes = new Map<string, AbortController>();
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
        await this.removeOwnMounts(existing.volumeId, existing.targetPath, existing.version);
        await this.deps.state.delete(existing.volumeId);
      } else {
        await this.refuseOccupiedTarget(request);
      }
      await this.publishFresh(request, spec, signal);
    });
  }

  async unpublish(request: UnpublishRequest): Promise<void> {
    // A renewal still waiting for its provider (a queued key generation) would hold the volume until it ends:
    // cancel it, so the kubelet's retry of this unpublish finds the volume free.
    this.timerRefreshes.get(request.volumeId)?.abort();
    await this.locks.run(request.volumeId, async () => {
      this.timers.cancel(request.volumeId);
      const record = await this.deps.state.get(request.volumeId);
      if (record !== undefined) await this.releaseProviderState(record.provider, request.volumeId);
      await this.removeMounts(request.targetPath);
      if (await this.deps.mounter.hasMountsBelow(request.targetPath)) {
        throw failedPrecondition(`target path ${request.targetPath} has other mounts inside it; keymount leaves them alone`);
      }
      await this.removePrivateMount(request.volumeId);
      await this.removeTargetDirectory(request.volumeId, request.targetPath);
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
      try {
        if ((await this.recoverOne(record)) === 'resumed') resumed++;
        else cleaned++;
      } catch (error) {
        // One record must never keep the driver from starting (every restart would fail the same way).
        this.deps.logger.error({ volumeId: record.volumeId, targetPath: record.targetPath, err: error }, 'cannot recover a volume; dropped its record');
        await this.deps.state.delete(record.volumeId).catch(() => undefined);
        cleaned++;
      }
    }
    return { resumed, cleaned };
  }

  private async recoverOne(record: VolumeRecord): Promise<'resumed' | 'cleaned'> {
    return this.locks.run(record.volumeId, async () => {
      const fields = { volumeId: record.volumeId, targetPath: record.targetPath, phase: record.phase };
      if (!isKubeletTargetPath(record.targetPath, this.deps.kubeletRoot)) {
        // Not a path the kubelet gives out: touch nothing there. Only the volume's own private mount goes.
        this.deps.logger.warn({ ...fields, kubeletRoot: this.deps.kubeletRoot }, 'ignored a state record whose target path is not a kubelet volume path');
        await this.removePrivateMount(record.volumeId);
        await this.deps.state.delete(record.volumeId);
        return 'cleaned';
      }
      if (record.phase === 'published' && (await this.isServing(record, record.targetPath))) {
        this.resume(record);
        return 'resumed';
      }
      const unmounted = await this.removeOwnMounts(record.volumeId, record.targetPath, record.version);
      await this.removePrivateMount(record.volumeId);
      if (record.createdTargetDir && unmounted) await this.removeTargetDirectory(record.volumeId, record.targetPath);
      await this.deps.state.delete(record.volumeId);
      this.deps.logger.info(fields, 'cleaned up a volume left by an earlier run');
      return 'cleaned';
    });
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
    return this.isServing(existing, request.targetPath);
  }

  /** Whether the target still shows the volume's tmpfs. */
  private async isServing(record: VolumeRecord, target: string): Promise<boolean> {
    if (record.version === RECORD_VERSION) return this.deps.privateMounts.showsVolume(record.volumeId, target);
    // keymount 0.1.0 mounted the tmpfs at the target itself.
    const mount = await this.deps.mounter.findMount(target, 'fromTable');
    return mount !== undefined && isLegacyVolumeMount(mount);
  }

  /**
   * A target that already holds a mount, with no record for this volume: the
   * volume's own tmpfs whose record was lost is replaced; another volume's,
   * or anything keymount did not mount, is refused and left alone.
   */
  private async refuseOccupiedTarget(request: PublishRequest): Promise<void> {
    if ((await this.deps.mounter.findMount(request.targetPath)) === undefined) return;
    const mount = await this.deps.mounter.findMount(request.targetPath, 'fromTable');
    if (mount === undefined) return;
    const fields = { volumeId: request.volumeId, targetPath: request.targetPath };
    if (mount.source === mountSourceOf(request.volumeId)) {
      this.deps.logger.warn(fields, 'replacing a mount of this volume that keymount has no record of');
      await this.removeOwnMounts(request.volumeId, request.targetPath, RECORD_VERSION);
      return;
    }
    if (mount.fsType === 'tmpfs' && mount.source?.startsWith(LEGACY_MOUNT_SOURCE) === true) {
      throw new KeymountError(
        'ALREADY_EXISTS',
        `target path ${request.targetPath} already holds another keymount volume; unpublish that volume first (keymount never unmounts one volume to publish another)`,
      );
    }
    throw failedPrecondition(
      `target path ${request.targetPath} already has a ${mount.fsType} mount that keymount did not make; keymount publishes only on an unmounted target and leaves that mount alone`,
    );
  }

  private async publishFresh(request: PublishRequest, spec: VolumeSpec, signal: AbortSignal): Promise<void> {
    const created = (await this.deps.targets.inspect(request.targetPath)) === 'missing';
    const record: VolumeRecord = {
      version: RECORD_VERSION,
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
    const steps: PublishSteps = { createdTargetDir: created, privateMounted: false, bound: false };
    const privatePath = this.deps.privateMounts.pathOf(request.volumeId);
    try {
      // The record comes first, so a crash at any later step leaves something recover() can clean up.
      await this.deps.state.put(record);
      if (created) await this.deps.targets.create(request.targetPath);
      // A private mount left by a crash before its record was written is this volume's own: start afresh.
      await this.removePrivateMount(request.volumeId);
      await this.deps.privateMounts.create(request.volumeId);
      await this.deps.mounter.mountTmpfs(privatePath, {
        sizeBytes: this.deps.limits.maxVolumeSizeBytes,
        mode: VOLUME_ROOT_MODE,
        gid: spec.gid,
        source: mountSourceOf(request.volumeId),
      });
      steps.privateMounted = true;
      this.remember(request.volumeId, spec, request, undefined);
      const outcome = await this.fetch(record, {}, signal);
      if (isUnchanged(outcome)) {
        throw new KeymountError('FAILED_PRECONDITION', `provider "${spec.providerName}" answered "unchanged" to a first fetch`);
      }
      await this.writeFiles(record, spec, outcome);
      // Only now does the pod see the volume: complete, and read-only whatever the pod asked (SECURITY.md).
      await this.deps.mounter.bindReadOnly(privatePath, request.targetPath);
      steps.bound = true;
      const now = this.deps.clock.now().toISOString();
      const published = { ...this.afterSuccess(record, outcome), phase: 'published' as const, publishedAt: now };
      await this.deps.state.put(published);
      this.remember(request.volumeId, spec, request, published.notAfter);
      this.scheduleRenewal(published);
      this.reportMounted(spec.providerName);
    } catch (error) {
      this.forget(request.volumeId, undefined);
      await this.rollback(request, steps);
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
    // Written only into the volume's own private tmpfs: if that mount is gone, a write would land on the
    // state dir's filesystem (possibly a disk), so nothing is written.
    if (record.version !== RECORD_VERSION) {
      throw failedPrecondition(
        `volume ${record.volumeId} was published by an earlier keymount version whose volumes the pod could write to; keymount no longer refreshes it: restart the pod to get an isolated volume`,
      );
    }
    if (!this.deps.privateMounts.isOwnTmpfs(record.volumeId)) {
      throw failedPrecondition(`the private tmpfs of volume ${record.volumeId} is no longer mounted; nothing was written (unpublish and publish the volume again)`);
    }
    await this.deps.writer.writeAll(this.deps.privateMounts.pathOf(record.volumeId), files, { gid: spec.gid });
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
        const cancel = new AbortController();
        this.timerRefreshes.set(volumeId, cancel);
        try {
          await this.refresh(record, cancel.signal, 'timer');
        } finally {
          this.timerRefreshes.delete(volumeId);
        }
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
  private async rollback(request: PublishRequest, done: PublishSteps): Promise<void> {
    const steps: [string, () => Promise<unknown>][] = [];
    steps.push(['release provider state', () => this.releaseProviderState(request.attributes.provider ?? '', request.volumeId)]);
    if (done.bound) steps.push(['unmount the target', () => this.removeOwnMounts(request.volumeId, request.targetPath, RECORD_VERSION)]);
    if (done.privateMounted) steps.push(['unmount the private tmpfs', () => this.removePrivateMount(request.volumeId)]);
    else steps.push(['remove the private mount point', () => this.deps.privateMounts.remove(request.volumeId)]);
    if (done.createdTargetDir) steps.push(['remove target directory', () => this.removeTargetDirectory(request.volumeId, request.targetPath)]);
    steps.push(['delete state record', () => this.deps.state.delete(request.volumeId)]);
    for (const [step, run] of steps) {
      try {
        await run();
      } catch (error) {
        this.deps.logger.error({ err: error, volumeId: request.volumeId, step }, 'rollback of a failed publish is incomplete');
      }
    }
  }

  /** Unpublish: the kubelet names the target; everything stacked on it goes, as the CSI spec asks. */
  private async removeMounts(target: string): Promise<void> {
    for (let count = 0; count < MAX_STACKED_MOUNTS; count++) {
      if ((await this.deps.mounter.findMount(target)) === undefined) return;
      await this.deps.mounter.unmount(target);
    }
    throw failedPrecondition(`target path ${target} is still mounted after ${MAX_STACKED_MOUNTS} unmounts`);
  }

  /**
   * Unmounts from the target only the mounts this volume made (its tmpfs, by
   * its source name in the mount table), topmost first, and stops at anything
   * else: a record never makes keymount unmount what it did not mount.
   */
  /** True when nothing is mounted at the target any more. */
  private async removeOwnMounts(volumeId: string, target: string, version: VolumeRecord['version']): Promise<boolean> {
    for (let count = 0; count < MAX_STACKED_MOUNTS; count++) {
      if ((await this.deps.mounter.findMount(target)) === undefined) return true;
      const mount = await this.deps.mounter.findMount(target, 'fromTable');
      if (mount === undefined) return true;
      const own = version === RECORD_VERSION ? mount.source === mountSourceOf(volumeId) : isLegacyVolumeMount(mount);
      if (!own) {
        this.deps.logger.warn({ volumeId, targetPath: target, fsType: mount.fsType }, 'left a mount keymount did not make for this volume in place');
        return false;
      }
      await this.deps.mounter.unmount(target);
    }
    throw failedPrecondition(`target path ${target} is still mounted after ${MAX_STACKED_MOUNTS} unmounts`);
  }

  /** Unmounts the volume's private tmpfs (the path comes from the volume ID, never from a record) and removes its mount point. */
  private async removePrivateMount(volumeId: string): Promise<void> {
    const path = this.deps.privateMounts.pathOf(volumeId);
    for (let count = 0; count < MAX_STACKED_MOUNTS; count++) {
      if ((await this.deps.mounter.findMount(path)) === undefined) break;
      await this.deps.mounter.unmount(path);
    }
    await this.deps.privateMounts.remove(volumeId);
  }

  /** Removes the target directory only while it is empty: keymount never deletes recursively outside its own mounts. */
  private async removeTargetDirectory(volumeId: string, target: string): Promise<void> {
    const removed = await this.deps.targets.remove(target);
    if (!removed) this.deps.logger.warn({ volumeId, targetPath: target }, 'left the target directory in place: something wrote into it while no volume was mounted there');
  }
}

/** What a publish has done so far, for its rollback. */
interface PublishSteps {
  readonly createdTargetDir: boolean;
  privateMounted: boolean;
  bound: boolean;
}

/** A tmpfs mounted at the target by keymount 0.1.0: its source name and flags. */
function isLegacyVolumeMount(mount: MountEntry): boolean {
  return mount.fsType === 'tmpfs' && mount.source === LEGACY_MOUNT_SOURCE && ['nosuid', 'nodev', 'noexec'].every((flag) => mount.options.includes(flag));
}
