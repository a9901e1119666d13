import { KeymountError } from '../errors.js';

/**
 * At most one operation per volume at a time. The CSI spec asks a plugin to
 * answer ABORTED when an operation is already pending on the volume; the
 * kubelet then retries, so waiting in line would only pile up calls.
 */
export class OperationLocks {
  private readonly busy = new Set<string>();

  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    if (this.busy.has(key)) {
      throw new KeymountError('ABORTED', `an operation on volume ${key} is already in progress; it will be retried`);
    }
    this.busy.add(key);
    try {
      return await operation();
    } finally {
      this.busy.delete(key);
    }
  }

  get size(): number {
    return this.busy.size;
  }
}
