/** Runs an operation over many items with a fixed number in flight, timing each one. */

export interface TimedPhase {
  readonly latenciesMs: number[];
  readonly wallMs: number;
}

export async function timeEach<T>(items: readonly T[], concurrency: number, operation: (item: T) => Promise<unknown>): Promise<TimedPhase> {
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) {
      const item = items[index] as T;
      const begin = performance.now();
      await operation(item);
      latenciesMs.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { latenciesMs, wallMs: performance.now() - started };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
