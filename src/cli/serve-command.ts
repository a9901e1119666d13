import { ConfigError, loadServeConfig, SERVE_OPTIONS } from '../config/config.js';
import { startDriver } from '../driver.js';
import { disableCoreDumps } from './core-dumps.js';

const HELP = `keymount serve: run the CSI driver (Identity and Node services) on a unix socket

Flags (each also read from the environment variable shown):
${Object.entries(SERVE_OPTIONS)
  .map(([flag, option]) => `  --${flag.padEnd(27)} ${option.help}${option.default ? ` (default ${option.default})` : ''} [${option.env}]`)
  .join('\n')}

Before start-up, every provider instance of --config is checked and every error listed at once (exit 2);
"keymount check-config FILE" makes the same checks without serving.

Mounting tmpfs needs root. Without root, run it inside a user and mount namespace:
  unshare --user --map-root-user --mount keymount serve ...
`;

export async function serveCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  // First, before the config or any provider brings a credential into memory.
  const coreDumpsLeftOn = disableCoreDumps();
  let config;
  try {
    config = loadServeConfig(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`keymount serve: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  let driver;
  try {
    driver = await startDriver(config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`keymount serve: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (coreDumpsLeftOn !== undefined) {
    driver.logger.warn(
      { reason: coreDumpsLeftOn },
      'could not turn core dumps off (RLIMIT_CORE 0): a crash may write provider credentials and private keys to the node\'s disk. Install util-linux, or start keymount under "prlimit --core=0:0"',
    );
  }
  if (process.getuid?.() !== 0) {
    driver.logger.warn(
      {},
      'not running as root: mounting tmpfs will fail. Run as root, or inside "unshare --user --map-root-user --mount" for a private trial',
    );
  }
  driver.logger.info(
    {
      try: `npm run --silent keymount -- publish --endpoint unix://${config.socketPath} --target ./run/try/mount -a provider=${Object.keys(config.providers)[0] ?? 'local-ca'}`,
    },
    'ready: publish a volume from another terminal with the command in "try"',
  );
  const driverRunning = driver;
  // Graceful shutdown (the kubelet's SIGTERM on a rollout): new calls are refused, in-flight ones get
  // --shutdown-timeout to finish, the socket is removed; mounted volumes stay for the next driver pod.
  // A second signal exits at once.
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        driverRunning.logger.warn({ signal }, 'second signal: exiting without waiting for in-flight calls');
        process.exit(1);
      }
      stopping = true;
      driverRunning.logger.info({ signal }, 'stopping');
      driverRunning.stop().then(resolve, (error: unknown) => {
        driverRunning.logger.error({ err: error }, 'error while stopping');
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return 0;
}
