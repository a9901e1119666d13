/**
 * Runs synchronous work behind a promise-returning interface, so a failure is
 * a rejection, as with an asynchronous call, never a throw. For file work on a
 * tmpfs or procfs, where a synchronous call takes microseconds and an
 * asynchronous one costs thread-pool round trips worth many times that.
 */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
