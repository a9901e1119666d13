/**
 * Bounded, fair queues for the CPU-heavy part of issuing certificates.
 *
 * Key generation and signing already run off the event loop, on libuv's
 * thread pool (4 threads by default), which the driver's own asynchronous
 * file operations share. Unbounded, eight volumes renewing RSA-4096 keys fill
 * every thread and both cores of a small node: another tenant's publish then
 * waits seconds for its mkdir and write. So at most a few such jobs run at
 * once, node-wide, leaving threads and a core free for everything else; and
 * waiting jobs take turns by tenant (the pod's namespace), so a tenant with
 * many volumes waits behind its own work, never in front of another's.
 */
import { availableParallelism } from 'node:os';

/** Who a job is for: jobs of one tenant run in order, tenants take turns. */
export interface WorkContext {
  /** The pod's namespace. */
  readonly tenant: string;
  /** A first publish (a pod waits to start) goes before the same tenant's renewals, which still hold a certificate. */
  readonly urgent?: boolean;
  /** A job still waiting when this aborts is dropped (a running one finishes; its thread cannot be stopped). */
  readonly signal?: AbortSignal;
}

type Job = () => void;

interface TenantState {
  /** Urgent jobs first, each group first come first served. */
  readonly urgent: Job[];
  readonly waiting: Job[];
  running: number;
  /** When a job of this tenant last started (a counter): the longest-unserved tenant goes first. */
  lastStarted: number;
}

/**
 * Runs at most `concurrency` jobs at once. The next job comes from the
 * tenant with the fewest running jobs, and among those the one served
 * longest ago; within a tenant, urgent jobs first, then first come first
 * served.
 */
export class FairWorkQueue {
  private running = 0;
  private started = 0;
  /** Tenants with waiting or running jobs. */
  private readonly tenants = new Map<string, TenantState>();

  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`FairWorkQueue: concurrency must be a positive integer, got ${concurrency}`);
  }

  /** Jobs started and not yet finished. */
  get active(): number {
    return this.running;
  }

  /** Jobs waiting for a turn, over all tenants. */
  get queued(): number {
    let count = 0;
    for (const state of this.tenants.values()) count += state.urgent.length + state.waiting.length;
    return count;
  }

  run<T>(context: WorkContext, work: () => Promise<T>): Promise<T> {
    const { signal, tenant } = context;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<T>((resolve, reject) => {
      const state = this.stateOf(tenant);
      const line = context.urgent === true ? state.urgent : state.waiting;
      const onAbort = (): void => {
        const index = line.indexOf(job);
        if (index < 0) return;
        line.splice(index, 1);
        this.dropIfIdle(tenant, state);
        if (signal !== undefined) reject(abortReason(signal));
      };
      const job: Job = () => {
        signal?.removeEventListener('abort', onAbort);
        let result: Promise<T>;
        try {
          result = work();
        } catch (error) {
          result = Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
        result.then(resolve, reject).finally(() => {
          this.running--;
          state.running--;
          this.dropIfIdle(tenant, state);
          this.startNext();
        });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      line.push(job);
      this.startNext();
    });
  }

  private stateOf(tenant: string): TenantState {
    let state = this.tenants.get(tenant);
    if (state === undefined) {
      state = { urgent: [], waiting: [], running: 0, lastStarted: -1 };
      this.tenants.set(tenant, state);
    }
    return state;
  }

  private dropIfIdle(tenant: string, state: TenantState): void {
    if (state.running === 0 && state.urgent.length === 0 && state.waiting.length === 0) this.tenants.delete(tenant);
  }

  private startNext(): void {
    while (this.running < this.concurrency) {
      let chosen: TenantState | undefined;
      for (const state of this.tenants.values()) {
        if (state.urgent.length === 0 && state.waiting.length === 0) continue;
        if (chosen === undefined || state.running < chosen.running || (state.running === chosen.running && state.lastStarted < chosen.lastStarted)) {
          chosen = state;
        }
      }
      const job = chosen?.urgent.shift() ?? chosen?.waiting.shift();
      if (chosen === undefined || job === undefined) return;
      this.running++;
      chosen.running++;
      chosen.lastStarted = this.started++;
      job();
    }
  }
}

/** What the signal was aborted with (AbortSignal.timeout and the core's signals use Errors). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('the work was cancelled before it started');
}

/**
 * RSA key generation (hundreds of milliseconds to seconds of one core each)
 * gets half the cores, at least one and at most two, so that of libuv's four
 * threads at least two stay free for file operations.
 */
export const KEY_GENERATION_CONCURRENCY = Math.max(1, Math.min(2, Math.floor(availableParallelism() / 2)));
/** Signing, EC and Ed25519 keys, PKCS#12 encoding: milliseconds each, a thread or two suffice. */
export const SIGNING_CONCURRENCY = Math.min(2, availableParallelism());

/** Node-wide: every certificate provider instance shares the same cores. */
export const certificateWork = {
  /** RSA key generation. */
  keyGeneration: new FairWorkQueue(KEY_GENERATION_CONCURRENCY),
  /** Everything else: EC and Ed25519 keys, CSR and certificate signing, keystores. */
  signing: new FairWorkQueue(SIGNING_CONCURRENCY),
} as const;
