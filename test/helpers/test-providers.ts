/**
 * Provider types for cases the real providers cannot produce: a provider that
 * returns unsafe paths, and one that waits until the test releases it.
 */
import type { Provider, ProviderFile, ProviderType } from '../../src/provider/contract.js';

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
