/**
 * `keymount check-config FILE`: the start-up check of `keymount serve`, on its
 * own and reporting every error of every instance at once, so an admin finds
 * them before a DaemonSet crash-loops on each in turn.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, readProviderInstancesFile, type ProviderInstanceConfig, type ProviderInstancesFile } from '../config/config.js';
import { BUILT_IN_PROVIDER_TYPES } from '../provider/built-in.js';
import type { ProviderLogger, ProviderType } from '../provider/contract.js';
import { checkInstanceSettings, creationProblem, instanceProblemsError, type InstanceProblem } from '../provider/settings-check.js';

const CONFIG_PATH_IN_CHART = '/etc/keymount/config/config.yaml';

const HELP = `keymount check-config: check a config file's provider instances and report every error at once

Usage:
  keymount check-config [--settings-only] FILE

Makes the checks "keymount serve --config FILE" makes at start-up, without serving:
  1. the file: YAML, the providers map, instance names, type, minRefreshInterval, namespaces;
  2. every instance's settings against its provider type; an unknown setting gets a "did you mean";
  3. every instance built as serve builds it, which reads the files its settings name: local-ca's
     caCertFile and caKeyFile (readable, parseable, a matching pair, valid now), vault and vault-pki's
     caFile, clientCertFile, clientKeyFile and auth.tokenFile, auth.roleIdFile, auth.secretIdFile
     (present and readable). A missing or unreadable file is an error naming the setting and the path.
     No network call is made: whether Vault or AWS accept the credentials shows at the first volume.
Step 2 covers every instance even when some are wrong; step 3 runs for the instances step 2 accepted,
and reports the first file problem of each.

  --settings-only   steps 1 and 2 only, reading no file the settings name: for a config whose files
                    exist only on the nodes (in CI, or on the machine where the chart's values are
                    written). The Helm chart's values.schema.json makes the same settings check.

Exit 0: every instance is fine (one line each on stdout, with any warning serve would log).
Exit 1: the config has errors, all listed on stderr, each with its instance and setting.
Exit 2: bad usage.

To check the files where keymount runs (the chart mounts the config at ${CONFIG_PATH_IN_CHART}):
  kubectl -n keymount exec ds/keymount -c keymount -- node /app/dist/src/cli/main.js check-config ${CONFIG_PATH_IN_CHART}
`;

interface InstanceNote {
  readonly instance: string;
  readonly message: string;
}

export async function checkConfigCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  let settingsOnly: boolean;
  let file: string;
  try {
    const parsed = parseArgs({ args, options: { 'settings-only': { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
    if (parsed.positionals.length !== 1) throw new Error('name exactly one config FILE');
    settingsOnly = parsed.values['settings-only'];
    file = resolve(parsed.positionals[0] ?? '');
  } catch (error) {
    process.stderr.write(`keymount check-config: ${(error as Error).message}\n\nUsage: keymount check-config [--settings-only] FILE (see --help)\n`);
    return 2;
  }
  let read: ProviderInstancesFile;
  try {
    read = readProviderInstancesFile(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`keymount check-config: ${error.message}\n`);
    return 1;
  }
  const { instances } = read;
  const types = BUILT_IN_PROVIDER_TYPES;
  // The settings of an instance are checked even when its type, minRefreshInterval or namespaces are wrong.
  const problems = [...read.problems, ...checkInstanceSettings(withTypes(instances), types)];
  const notes: InstanceNote[] = [];
  if (!settingsOnly) {
    const refused = new Set(problems.map((problem) => problem.instance));
    for (const [name, instance] of Object.entries(instances)) {
      if (refused.has(name)) continue;
      const problem = await tryToBuild(name, instance, types, notes);
      if (problem !== undefined) problems.push(problem);
    }
  }
  if (problems.length > 0) {
    // In the file's order; an instance too broken to read (not a map) comes last.
    const order = Object.keys(instances);
    const rank = (instance: string): number => (order.includes(instance) ? order.indexOf(instance) : order.length);
    const sorted = [...problems].sort((a, b) => rank(a.instance) - rank(b.instance));
    process.stderr.write(`keymount check-config: ${file}: ${instanceProblemsError(sorted).message}\n`);
    return 1;
  }
  const checked = settingsOnly ? 'settings valid (files not read: --settings-only)' : 'settings valid, instance built';
  for (const [name, instance] of Object.entries(instances)) {
    process.stdout.write(`ok: provider instance "${name}" (type ${instance.type}): ${checked}\n`);
    for (const note of notes.filter((candidate) => candidate.instance === name)) process.stdout.write(`    warning: ${note.message}\n`);
  }
  return 0;
}

/** Without the instances that have no type at all: readProviderInstancesFile reported those already. */
function withTypes(instances: Readonly<Record<string, ProviderInstanceConfig>>): Record<string, ProviderInstanceConfig> {
  return Object.fromEntries(Object.entries(instances).filter(([, instance]) => instance.type !== ''));
}

/** Builds the instance as serve would (reading the files it names), then closes it; the warnings it logs become notes. */
async function tryToBuild(
  name: string,
  instance: ProviderInstanceConfig,
  types: readonly ProviderType[],
  notes: InstanceNote[],
): Promise<InstanceProblem | undefined> {
  const type = types.find((candidate) => candidate.type === instance.type);
  if (type === undefined) return undefined;
  const ignore = (): void => undefined;
  const logger: ProviderLogger = {
    debug: ignore,
    info: ignore,
    warn: (_fields, message) => notes.push({ instance: name, message }),
    error: (_fields, message) => notes.push({ instance: name, message }),
  };
  try {
    const provider = await type.create(name, instance.settings, { clock: { now: () => new Date() }, logger });
    await provider.close?.();
    return undefined;
  } catch (error) {
    return creationProblem(name, instance.type, error);
  }
}
