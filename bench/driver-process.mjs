// @ts-check
/* global process, Buffer */
// keymount's real driver (from the built dist/) as its own process, for the
// benchmarks and the soak test, so its RSS and file descriptors are its own.
// Adds one provider type, "memory": a trivial in-memory provider that returns
// three small files (the sizes local-ca's ca.crt, tls.crt and tls.key have),
// so the driver's own cost is visible without a backend. It answers UNCHANGED
// when the caller already holds the current version. With the instance setting
// `rotateEveryMs`, the version changes that often (to exercise swaps).
// Usage: node driver-process.mjs SOCKET STATE_DIR CONFIG_FILE MAX_VOLUME_SIZE LOG_LEVEL
// SIGTERM stops the driver cleanly (volumes stay mounted, as in production);
// SIGUSR2 runs a full garbage collection when node was started with --expose-gc,
// so a memory sample shows live data rather than garbage not yet collected, and
// prints process.memoryUsage() as a "bench memory" line to stdout.
import { buildConfig } from '../dist/src/config/config.js';
import { startDriver } from '../dist/src/driver.js';
import { UNCHANGED } from '../dist/src/provider/contract.js';
import { BUILT_IN_PROVIDER_TYPES } from '../dist/src/provider/built-in.js';

const [socket, stateDir, configFile, maxVolumeSize, logLevel] = process.argv.slice(2);

/** The same bytes for every volume: the bench measures the driver, not content generation. */
const FILES = [
  { path: 'ca.crt', contents: Buffer.alloc(615, 'c') },
  { path: 'tls.crt', contents: Buffer.alloc(721, 't') },
  { path: 'tls.key', contents: Buffer.alloc(241, 'k') },
];

const memoryProviderType = {
  type: 'memory',
  /** @param {string} _name @param {unknown} settings */
  create: async (_name, settings) => {
    const rotateEveryMs = Number((/** @type {{rotateEveryMs?: unknown}} */ (settings)).rotateEveryMs ?? 0);
    const currentVersion = () => (rotateEveryMs > 0 ? String(Math.floor(Date.now() / rotateEveryMs)) : '1');
    return {
      type: 'memory',
      attributeKeys: [],
      parseAttributes: () => ({}),
      /** @param {{previousVersions: Record<string, string>}} request */
      fetch: async (request) => {
        const version = currentVersion();
        if (request.previousVersions.bundle === version) return UNCHANGED;
        return { files: FILES, versions: { bundle: version } };
      },
    };
  },
};

const config = buildConfig(
  {
    endpoint: `unix://${socket}`,
    'state-dir': stateDir,
    'node-id': 'bench-node',
    config: configFile,
    'max-volume-size': maxVolumeSize,
    'log-level': logLevel,
  },
  {},
  false,
);
const driver = await startDriver(config, { providerTypes: [...BUILT_IN_PROVIDER_TYPES, memoryProviderType] });
process.once('SIGTERM', () => {
  void driver.stop().then(() => process.exit(0));
});
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  // One line among the driver's log lines, for the bench to read.
  process.stdout.write(`${JSON.stringify({ msg: 'bench memory', ...process.memoryUsage() })}\n`);
});
