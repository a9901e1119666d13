import type { VolumeRecord, VolumeStateStore } from '../volume/state-store.js';

/**
 * Remembers which provider instance serves each volume, as the state store
 * sees records go by, so an unpublish call (which names only the volume) is
 * still counted under its provider. A decorator: the volume manager is
 * unchanged and the store stays the single source of truth.
 */
export class ProviderIndexedStore implements VolumeStateStore {
  private readonly providers = new Map<string, string>();

  constructor(private readonly inner: VolumeStateStore) {}

  providerOf(volumeId: string): string | undefined {
    return this.providers.get(volumeId);
  }

  async get(volumeId: string): Promise<VolumeRecord | undefined> {
    const record = await this.inner.get(volumeId);
    if (record !== undefined) this.providers.set(volumeId, record.provider);
    return record;
  }

  async put(record: VolumeRecord): Promise<void> {
    await this.inner.put(record);
    this.providers.set(record.volumeId, record.provider);
  }

  async delete(volumeId: string): Promise<void> {
    await this.inner.delete(volumeId);
    this.providers.delete(volumeId);
  }

  async list(): Promise<VolumeRecord[]> {
    const records = await this.inner.list();
    for (const record of records) this.providers.set(record.volumeId, record.provider);
    return records;
  }
}
