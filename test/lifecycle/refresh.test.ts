/**
 * Refreshes on in-memory ports under fake time: on a republish when due, on
 * the provider's own schedule (certificate renewal), with a backoff after
 * failures; the last good files stay whatever happens.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeymountError } from '../../src/errors.js';
import { UNCHANGED } from '../../src/provider/contract.js';
import { NEVER_ABORTED, fileAnswer, lifecycle, publishRequest, type Lifecycle } from './harness.js';

/** The instance's default minimum refresh interval (DEFAULT_MIN_REFRESH_INTERVAL_MS). */
const INTERVAL_MS = 120_000;
const BACKOFF_BASE_MS = 10_000;
const HOUR_MS = 3_600_000;

let node: Lifecycle;
const request = publishRequest('vol-1');

beforeEach(async () => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  node = await lifecycle();
});

afterEach(() => {
  node.manager.close();
  vi.useRealTimers();
});

function shownValue(): string | undefined {
  return node.mounter.filesAt(request.targetPath)?.get('value')?.contents.toString('utf8');
}

function failWith(error: Error): void {
  node.backend.answer = () => Promise.reject(error);
}

describe('refresh on republish', () => {
  it('fetches nothing before the refresh interval has passed', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    vi.advanceTimersByTime(INTERVAL_MS - 1_000);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches).toHaveLength(1);
    expect(shownValue()).toBe('1');
  });

  it('fetches again once due, passing the versions it has, and swaps the files', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    vi.advanceTimersByTime(INTERVAL_MS);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches.map((fetch) => fetch.previousVersions)).toEqual([{}, { value: '1' }]);
    expect(shownValue()).toBe('2');
    expect(node.state.peek('vol-1')).toMatchObject({ versions: { value: '2' }, lastFetchAt: new Date().toISOString(), failures: 0 });
  });

  it('writes nothing when the provider answers "unchanged", and starts a new interval', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.answer = () => Promise.resolve(UNCHANGED);
    vi.advanceTimersByTime(INTERVAL_MS);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.writer.writes.get(node.privateMounts.pathOf('vol-1'))).toHaveLength(1);
    expect(node.state.peek('vol-1')).toMatchObject({ versions: { value: '1' }, lastFetchAt: new Date().toISOString() });
    vi.advanceTimersByTime(INTERVAL_MS - 1_000);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches).toHaveLength(2);
  });

  it('keeps the last good files after a failure, records it, and backs off exponentially', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    failWith(new KeymountError('UNAVAILABLE', 'backend "scripted" is unreachable'));
    vi.advanceTimersByTime(INTERVAL_MS);
    // A failed refresh never fails the republish: the pod keeps its files.
    await node.manager.publish(request, NEVER_ABORTED);
    expect(shownValue()).toBe('1');
    expect(node.state.peek('vol-1')).toMatchObject({
      failures: 1,
      retryAfter: new Date(Date.now() + BACKOFF_BASE_MS).toISOString(),
      lastError: 'backend "scripted" is unreachable',
    });

    // Within the backoff: skipped, no call.
    vi.advanceTimersByTime(BACKOFF_BASE_MS - 1);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches).toHaveLength(2);

    vi.advanceTimersByTime(1);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.backend.fetches).toHaveLength(3);
    expect(node.state.peek('vol-1')).toMatchObject({ failures: 2, retryAfter: new Date(Date.now() + 2 * BACKOFF_BASE_MS).toISOString() });

    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    vi.advanceTimersByTime(2 * BACKOFF_BASE_MS);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(shownValue()).toBe('2');
    const record = node.state.peek('vol-1');
    expect(record?.failures).toBe(0);
    expect(record?.retryAfter).toBeUndefined();
    expect(record?.lastError).toBeUndefined();
  });

  it('records a generic message, never the raw error, for a failure that is not a keymount error', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    failWith(new Error('token=s3cr3t rejected'));
    vi.advanceTimersByTime(INTERVAL_MS);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(node.state.peek('vol-1')?.lastError).toBe('internal error (see the driver log)');
  });

  it('keeps the last good files when the new ones cannot be written', async () => {
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    node.writer.faults.failNext('writeAll', new KeymountError('RESOURCE_EXHAUSTED', 'volume full'));
    vi.advanceTimersByTime(INTERVAL_MS);
    await node.manager.publish(request, NEVER_ABORTED);
    expect(shownValue()).toBe('1');
    expect(node.state.peek('vol-1')).toMatchObject({ failures: 1, lastError: 'volume full', versions: { value: '1' } });
  });
});

describe('renewal on the provider schedule', () => {
  it("refreshes at the provider's refreshAt without any republish", async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() + HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    await vi.advanceTimersByTimeAsync(HOUR_MS - 1_000);
    expect(node.backend.fetches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(node.backend.fetches).toHaveLength(2);
    expect(shownValue()).toBe('2');
    // The new answer named no further time: the schedule ends.
    expect(node.state.peek('vol-1')?.refreshAt).toBeUndefined();
    await vi.advanceTimersByTimeAsync(10 * HOUR_MS);
    expect(node.backend.fetches).toHaveLength(2);
  });

  it('retries a failed renewal after the backoff, keeping the files meanwhile', async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() + HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    failWith(new KeymountError('UNAVAILABLE', 'CA unreachable'));
    await vi.advanceTimersByTimeAsync(HOUR_MS);
    expect(node.backend.fetches).toHaveLength(2);
    expect(shownValue()).toBe('1');
    expect(node.state.peek('vol-1')).toMatchObject({ failures: 1, lastError: 'CA unreachable' });

    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    await vi.advanceTimersByTimeAsync(BACKOFF_BASE_MS);
    expect(node.backend.fetches).toHaveLength(3);
    expect(shownValue()).toBe('2');
    expect(node.state.peek('vol-1')?.failures).toBe(0);
  });

  it('never fires sooner than a second from now, even for a refreshAt in the past', async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() - HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    node.backend.answer = () => Promise.resolve(fileAnswer('2'));
    await vi.advanceTimersByTimeAsync(999);
    expect(node.backend.fetches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(node.backend.fetches).toHaveLength(2);
  });

  it('is cancelled by an unpublish while the provider is still renewing', async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() + HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    // The renewal waits for its provider until its signal aborts (a queued key generation).
    node.backend.answer = () => new Promise(() => undefined);
    await vi.advanceTimersByTimeAsync(HOUR_MS);
    expect(node.backend.fetches).toHaveLength(2);
    const unpublish = { volumeId: 'vol-1', targetPath: request.targetPath };
    // The first unpublish cancels the renewal but may find the volume still busy; the kubelet retries.
    await node.manager.unpublish(unpublish).catch((error: unknown) => {
      expect(error).toMatchObject({ code: 'ABORTED' });
    });
    await vi.waitFor(async () => {
      await node.manager.unpublish(unpublish);
    });
    expect(node.mounter.mountPoints).toEqual([]);
    expect(node.state.size).toBe(0);
  });

  it('stops with the unpublish', async () => {
    node.backend.answer = () => Promise.resolve(fileAnswer('1', { refreshAt: new Date(Date.now() + HOUR_MS) }));
    await node.manager.publish(request, NEVER_ABORTED);
    await node.manager.unpublish({ volumeId: 'vol-1', targetPath: request.targetPath });
    await vi.advanceTimersByTimeAsync(2 * HOUR_MS);
    expect(node.backend.fetches).toHaveLength(1);
    expect(node.mounter.mountPoints).toEqual([]);
  });
});
