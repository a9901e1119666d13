/**
 * The fair queue in front of certificate work: never more than its
 * concurrency at once, tenants take turns whatever their backlog, and a
 * cancelled request leaves the queue without running.
 */
import { describe, expect, it } from 'vitest';
import { FairWorkQueue } from '../../../providers/x509-common/index.js';

/** A job that runs until the test releases it, recording when it started. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FairWorkQueue', () => {
  it('runs at most its concurrency at once', async () => {
    const queue = new FairWorkQueue(2);
    const gates = Array.from({ length: 5 }, () => gate());
    let running = 0;
    let most = 0;
    const jobs = gates.map((g) =>
      queue.run({ tenant: 'a' }, async () => {
        running++;
        most = Math.max(most, running);
        await g.promise;
        running--;
      }),
    );
    await settle();
    expect(queue.active).toBe(2);
    expect(queue.queued).toBe(3);
    for (const g of gates) {
      g.release();
      await settle();
    }
    await Promise.all(jobs);
    expect(most).toBe(2);
    expect(queue.active).toBe(0);
    expect(queue.queued).toBe(0);
  });

  it("serves a newly arriving tenant next, however many jobs another tenant has waiting", async () => {
    const queue = new FairWorkQueue(1);
    const order: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const job = (tenant: string, name: string): Promise<void> => {
      const g = gate();
      gates.set(name, g);
      return queue.run({ tenant }, async () => {
        order.push(name);
        await g.promise;
      });
    };
    const storm = Array.from({ length: 6 }, (_unused, index) => job('storm', `storm-${index}`));
    await settle();
    const victim = job('shop', 'shop-0');
    await settle();
    // storm-0 is running; the victim comes before storm-1.
    gates.get('storm-0')?.release();
    await settle();
    expect(order).toEqual(['storm-0', 'shop-0']);
    gates.get('shop-0')?.release();
    await victim;
    for (let index = 1; index < 6; index++) {
      await settle();
      gates.get(`storm-${index}`)?.release();
    }
    await Promise.all(storm);
    expect(order).toEqual(['storm-0', 'shop-0', 'storm-1', 'storm-2', 'storm-3', 'storm-4', 'storm-5']);
  });

  it('alternates between tenants with backlogs, first come first served within each', async () => {
    const queue = new FairWorkQueue(1);
    const order: string[] = [];
    const blocker = gate();
    const first = queue.run({ tenant: 'x' }, () => blocker.promise);
    const jobs = ['a1', 'a2', 'a3', 'b1', 'b2', 'c1'].map((name) =>
      queue.run({ tenant: name.charAt(0) }, () => {
        order.push(name);
        return Promise.resolve();
      }),
    );
    blocker.release();
    await Promise.all([first, ...jobs]);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });

  it("runs a tenant's urgent jobs (first publishes) before its renewals", async () => {
    const queue = new FairWorkQueue(1);
    const order: string[] = [];
    const blocker = gate();
    const first = queue.run({ tenant: 'a' }, () => blocker.promise);
    const record = (name: string) => (): Promise<void> => {
      order.push(name);
      return Promise.resolve();
    };
    const jobs = [
      queue.run({ tenant: 'a' }, record('renewal-1')),
      queue.run({ tenant: 'a' }, record('renewal-2')),
      queue.run({ tenant: 'a', urgent: true }, record('publish-1')),
      queue.run({ tenant: 'a', urgent: true }, record('publish-2')),
    ];
    blocker.release();
    await Promise.all([first, ...jobs]);
    expect(order).toEqual(['publish-1', 'publish-2', 'renewal-1', 'renewal-2']);
  });

  it('drops a waiting job whose signal aborts, and never runs it', async () => {
    const queue = new FairWorkQueue(1);
    const blocker = gate();
    const first = queue.run({ tenant: 'a' }, () => blocker.promise);
    const controller = new AbortController();
    let ran = false;
    const cancelled = queue.run({ tenant: 'b', signal: controller.signal }, () => {
      ran = true;
      return Promise.resolve();
    });
    await settle();
    expect(queue.queued).toBe(1);
    controller.abort(new Error('the caller gave up'));
    await expect(cancelled).rejects.toThrow('the caller gave up');
    expect(queue.queued).toBe(0);
    blocker.release();
    await first;
    expect(ran).toBe(false);
    await expect(queue.run({ tenant: 'b', signal: controller.signal }, () => Promise.resolve())).rejects.toThrow('the caller gave up');
  });

  it("passes a job's failure to its caller and keeps serving the others", async () => {
    const queue = new FairWorkQueue(1);
    const failing = queue.run({ tenant: 'a' }, () => Promise.reject(new Error('key generation failed')));
    const next = queue.run({ tenant: 'a' }, () => Promise.resolve('ok'));
    await expect(failing).rejects.toThrow('key generation failed');
    await expect(next).resolves.toBe('ok');
    expect(queue.active).toBe(0);
  });
});
