#!/usr/bin/env node
/**
 * The `keymount` command: `serve` runs the driver; `check-config` checks a
 * config file as serve would at start-up; `publish` and `unpublish` act as
 * the kubelet does, to try a volume spec on a machine without Kubernetes.
 */
import { checkConfigCommand } from './check-config-command.js';
import { serveCommand } from './serve-command.js';
import { publishCommand, unpublishCommand } from './volume-commands.js';
import { PACKAGE_VERSION } from '../package-info.js';

const USAGE = `keymount ${PACKAGE_VERSION}: secrets and certificates for Kubernetes pods, on tmpfs

Usage:
  keymount serve [flags]        run the CSI driver
  keymount check-config FILE    check a config file's provider instances, reporting every error
  keymount publish [flags]      publish a volume as the kubelet would
  keymount unpublish [flags]    unpublish it again
  keymount COMMAND --help       flags of one command
`;

const COMMANDS: Readonly<Record<string, (args: string[]) => Promise<number>>> = {
  serve: serveCommand,
  'check-config': checkConfigCommand,
  publish: publishCommand,
  unpublish: unpublishCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(`keymount: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`keymount: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
