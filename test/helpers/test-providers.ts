/**
 * Provider types for cases the real providers cannot produce: a provider that
 * returns unsafe paths, and one that waits until the test releases it.
 */
import { UNCHANGED, unavailable, type Provider, type ProviderFile, type ProviderType } from '../../src/provider/contract.js';

/** Returns exactly the files the test hands it through `files`. */
export function fixedFilesProviderType(files: () => readonly ProviderFile[]): ProviderType {
  return {
    type: 'fixed-files',
    create: (): Promise<Provider> =>
      Promise.resolve({
        type: 'fixed-files',
        attributeKeys: [],
        parseAttributes: () => ({}),
        fetch: () => Promise.resolve({ files: files(), versions: { fixed: '1' } }),
      }),
  };
}

export interface Gate {
  /** Resolves once a fetch is waiting at the gate. */
  readonly entered: Promise<void>;
  open(): void;
}

/** Holds every fetch until the test opens the gate, or until the signal aborts it. */
export function gatedProviderType(): { type: ProviderType; gate: () => Gate } {
  let current: { entered: () => void; release: Promise<void>; open: () => void } | undefined;
  let enteredPromise: Promise<void> = Promise.resolve();
  const gate = (): Gate => {
    let entered!: () => void;
    enteredPromise = new Promise((resolve) => (entered = resolve));
    let open!: () => void;
    const release = new Promise<void>((resolve) => (open = resolve));
    current = { entered, release, open };
    return { entered: enteredPromise, open };
  };
  const provider: Provider = {
    type: 'gated',
    attributeKeys: [],
    parseAttributes: () => ({}),
    async fetch(_request, signal) {
      const active = current;
      if (active === undefined) throw new Error('test forgot to create a gate');
      active.entered();
      await Promise.race([
        active.release,
        new Promise((_resolve, reject) => { signal.addEventListener('abort', () => { reject(new Error('aborted')); }, { once: true }); }),
      ]);
      return { files: [{ path: 'value', contents: Buffer.from('gated\n') }], versions: { value: '1' } };
    },
  };
  return { type: { type: 'gated', create: () => Promise.resolve(provider) }, gate };
}

export interface VersionedBackend {
  /** The content every object of the next fetch holds. */
  version: number;
  /** Makes fetches fail as an unreachable backend would. */
  down: boolean;
  /** How many fetches reached the provider, and how many downloaded. */
  calls: number;
  downloads: number;
  /** When set, the provider asks to be called again this many ms after each download. */
  refreshAfterMs: number | undefined;
}

/**
 * A backend with versioned objects: answers UNCHANGED when the caller already
 * has the current version, like a provider that checks metadata first.
 * Files are padded so a partially written file would be visible.
 */
export function versionedProviderType(clock: { now(): Date } = { now: () => new Date() }): { type: ProviderType; backend: VersionedBackend } {
  const backend: VersionedBackend = { version: 1, down: false, calls: 0, downloads: 0, refreshAfterMs: undefined };
  const provider: Provider = {
    type: 'versioned',
    attributeKeys: [],
    parseAttributes: () => ({}),
    fetch(request) {
      backend.calls++;
      if (backend.down) return Promise.reject(unavailable('backend "versioned" is unreachable'));
      const version = String(backend.version);
      if (request.previousVersions.value === version) return Promise.resolve(UNCHANGED);
      backend.downloads++;
      const content = (name: string): Buffer => Buffer.from(`${name}=v${version};`.padEnd(4096, '.'));
      return Promise.resolve({
        files: [
          { path: 'a', contents: content('a') },
          { path: 'b', contents: content('b') },
        ],
        versions: { value: version },
        ...(backend.refreshAfterMs !== undefined ? { refreshAt: new Date(clock.now().getTime() + backend.refreshAfterMs) } : {}),
      });
    },
  };
  return { type: { type: 'versioned', create: () => Promise.resolve(provider) }, backend };
}
