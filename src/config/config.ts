/**
 * The driver's configuration: command-line flags, their environment-variable
 * fallbacks and the admin's YAML file, validated once at start-up into one
 * frozen object. This is the only module that reads process.env.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';
import { parseListenAddress, type ListenAddress } from '../health/listen-address.js';

export interface ProviderInstanceConfig {
  /** The provider type, e.g. "local-ca". */
  readonly type: string;
  /** The shortest refreshInterval a pod of this instance may ask for (it bounds load on the backend). */
  readonly minRefreshIntervalMs?: number;
  /**
   * The namespaces whose pods may use this instance: names, or patterns where
   * `*` matches any run of characters within a name ("team-*"). Undefined:
   * every namespace (the behaviour before the setting existed). docs/configuration.md and
   * the chart's values show how to set it; an admin should, on every instance
   * meant for some tenants only.
   */
  readonly namespaces?: readonly string[];
  /** Type-specific settings, validated by the provider type when it is created. */
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface Config {
  /** Filesystem path of the CSI unix socket. */
  readonly socketPath: string;
  readonly driverName: string;
  readonly nodeId: string;
  readonly stateDir: string;
  readonly maxVolumeSizeBytes: number;
  readonly providerTimeoutMs: number;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
  readonly logPretty: boolean;
  readonly configFile: string | undefined;
  readonly providers: Readonly<Record<string, ProviderInstanceConfig>>;
  /** Prometheus /metrics; undefined: not served. */
  readonly metricsAddress: ListenAddress | undefined;
  /** /healthz and /readyz; undefined: not served. */
  readonly healthAddress: ListenAddress | undefined;
  /** Serve the kubelet plugin-registration API ourselves instead of node-driver-registrar. */
  readonly registerWithKubelet: boolean;
  readonly kubeletRoot: string;
  /** The CSI socket's path as the kubelet sees it on the host (reported by the registration API). */
  readonly kubeletRegistrationPath: string;
  /** How long a SIGTERM waits for in-flight calls before cancelling them. */
  readonly shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Used when no --config is given: the embedded local CA, so a first try needs nothing else. */
export const DEFAULT_PROVIDERS: Readonly<Record<string, ProviderInstanceConfig>> = {
  'local-ca': { type: 'local-ca', settings: {} },
};

export const SERVE_OPTIONS = {
  endpoint: { type: 'string', env: 'CSI_ENDPOINT', default: 'unix:///csi/csi.sock', help: 'CSI endpoint, unix://PATH' },
  'node-id': { type: 'string', env: 'NODE_ID', default: undefined, help: "node ID reported to the kubelet (default: the host's name)" },
  'driver-name': { type: 'string', env: 'DRIVER_NAME', default: 'keymount.csi.io', help: 'CSI driver name' },
  'state-dir': { type: 'string', env: 'KEYMOUNT_STATE_DIR', default: '/run/keymount', help: 'where per-volume records live (never secrets)' },
  config: { type: 'string', env: 'KEYMOUNT_CONFIG', default: undefined, help: 'YAML file naming the provider instances' },
  'max-volume-size': { type: 'string', env: 'KEYMOUNT_MAX_VOLUME_SIZE', default: '4Mi', help: 'tmpfs size limit per volume' },
  'provider-timeout': { type: 'string', env: 'KEYMOUNT_PROVIDER_TIMEOUT', default: '30s', help: 'upper bound for one provider fetch' },
  'log-level': { type: 'string', env: 'LOG_LEVEL', default: 'info', help: 'trace|debug|info|warn|error|silent' },
  'metrics-addr': { type: 'string', env: 'KEYMOUNT_METRICS_ADDR', default: undefined, help: 'serve Prometheus /metrics on HOST:PORT (":9811": every interface)' },
  'health-addr': {
    type: 'string',
    env: 'KEYMOUNT_HEALTH_ADDR',
    default: undefined,
    help: 'serve /healthz and /readyz on HOST:PORT (":9810": 127.0.0.1 only; name the interface, e.g. [$(POD_IP)]:9810 or 0.0.0.0:9810, to serve beyond it)',
  },
  'register-with-kubelet': { type: 'string', env: 'KEYMOUNT_REGISTER_WITH_KUBELET', default: 'false', help: 'true|false: register with the kubelet itself, without node-driver-registrar' },
  'kubelet-root': { type: 'string', env: 'KEYMOUNT_KUBELET_ROOT', default: '/var/lib/kubelet', help: "the kubelet's root dir (its plugins_registry/ is used with --register-with-kubelet)" },
  'kubelet-registration-path': { type: 'string', env: 'KEYMOUNT_KUBELET_REGISTRATION_PATH', default: undefined, help: 'the CSI socket path on the host, as registered with the kubelet (default: the --endpoint path)' },
  'shutdown-timeout': { type: 'string', env: 'KEYMOUNT_SHUTDOWN_TIMEOUT', default: '20s', help: 'on SIGTERM, how long in-flight calls may take before they are cancelled' },
} as const;

const nonEmpty = (flag: string) => z.string().min(1, `--${flag} must not be empty`);

/** `noInterface`: what ":PORT" means. Health answers anyone who reaches it, so there it means loopback only. */
const listenAddress = (flag: string, noInterface: 'every interface' | 'loopback') =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const address = parseListenAddress(value);
      if (address === undefined) {
        ctx.addIssue({ code: 'custom', message: `--${flag} "${value}" must be HOST:PORT, [IP]:PORT or :PORT (for example 127.0.0.1:9810)` });
        return z.NEVER;
      }
      return address.host === '' && noInterface === 'loopback' ? { host: '127.0.0.1', port: address.port } : address;
    });

const flagsSchema = z.object({
  endpoint: nonEmpty('endpoint').refine((value) => value.startsWith('unix://') && value.length > 'unix://'.length, {
    message: '--endpoint must be unix://PATH (for example unix:///csi/csi.sock)',
  }),
  'node-id': nonEmpty('node-id').max(256, '--node-id must be at most 256 bytes'),
  'driver-name': nonEmpty('driver-name')
    .max(63, '--driver-name must be at most 63 characters')
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, '--driver-name must be a DNS-style name such as keymount.csi.io'),
  'state-dir': nonEmpty('state-dir'),
  'max-volume-size': z.string().transform((value, ctx) => {
    const bytes = parseSize(value);
    if (bytes === undefined || bytes < 4096) {
      ctx.addIssue({ code: 'custom', message: `--max-volume-size "${value}" must be a size of at least 4Ki, such as 4Mi` });
      return z.NEVER;
    }
    return bytes;
  }),
  'provider-timeout': z.string().transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms < 100) {
      ctx.addIssue({ code: 'custom', message: `--provider-timeout "${value}" must be a duration such as 30s` });
      return z.NEVER;
    }
    return ms;
  }),
  'log-level': z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent'], {
    message: '--log-level must be one of trace, debug, info, warn, error, silent',
  }),
  config: z.string().optional(),
  'metrics-addr': listenAddress('metrics-addr', 'every interface'),
  'health-addr': listenAddress('health-addr', 'loopback'),
  'register-with-kubelet': z.enum(['true', 'false'], { message: '--register-with-kubelet must be true or false' }).transform((value) => value === 'true'),
  'kubelet-root': nonEmpty('kubelet-root').refine((value) => value.startsWith('/'), { message: '--kubelet-root must be an absolute path' }),
  'kubelet-registration-path': z
    .string()
    .optional()
    .refine((value) => value === undefined || value.startsWith('/'), { message: '--kubelet-registration-path must be an absolute path' }),
  'shutdown-timeout': z.string().transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `--shutdown-timeout "${value}" must be a duration such as 20s` });
      return z.NEVER;
    }
    return ms;
  }),
});

/** Instance names appear in pod specs and metrics, so they stay simple. */
export const INSTANCE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A namespace name (a DNS label), or a pattern of one with `*` wildcards. */
const NAMESPACE_PATTERN = /^[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?$/;

/** Settings keymount itself reads from every instance; the rest belong to the provider type. */
export const COMMON_INSTANCE_SETTINGS: readonly string[] = ['type', 'minRefreshInterval', 'namespaces'];

export const providerInstanceSchema = z.looseObject({
  type: z.string().min(1, 'type must not be empty'),
  minRefreshInterval: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const ms = parseDuration(value);
      if (ms === undefined || ms < 1000) {
        ctx.addIssue({ code: 'custom', message: `minRefreshInterval "${value}" must be a duration of at least 1s, such as 2m` });
        return z.NEVER;
      }
      return ms;
    }),
  namespaces: z
    .array(z.string(), { message: 'namespaces must be a list of namespace names or patterns, such as [shop, "team-*"]' })
    .optional()
    .superRefine((patterns, ctx) => {
      if (patterns === undefined) return;
      if (patterns.length === 0) {
        ctx.addIssue({ code: 'custom', message: 'namespaces must list at least one namespace or pattern; leave it out to allow every namespace' });
      }
      patterns.forEach((pattern, index) => {
        if (NAMESPACE_PATTERN.test(pattern)) return;
        ctx.addIssue({
          code: 'custom',
          message: `namespaces[${index}] "${pattern.slice(0, 80)}" must be a namespace name, or a pattern of one where "*" matches any run of characters (lower-case letters, digits, "-", "*")`,
        });
      });
    }),
});

export const DEFAULT_MIN_REFRESH_INTERVAL_MS = 120_000;

const configFileSchema = z.strictObject({
  providers: z.record(z.string(), z.unknown(), { message: 'providers must be a map of provider instances by name' }),
});

/** One thing wrong with one provider instance. */
export interface InstanceProblem {
  readonly instance: string;
  /** The instance's type as written ("" when it has none). */
  readonly type: string;
  /** The setting as the admin wrote it ("auth.tokenFile", "policy.dnsNames[2]"); "" for the instance as a whole. */
  readonly setting: string;
  readonly message: string;
}

/** `provider instance "aws" (type aws): setting "regoin": unknown setting (did you mean "region"?)` */
export function describeInstanceProblem(problem: InstanceProblem): string {
  const type = problem.type === '' ? '' : ` (type ${problem.type.slice(0, 80)})`;
  // Names as the admin wrote them, bounded: a runaway key would otherwise fill the log line.
  const where = problem.setting === '' ? '' : `setting "${problem.setting.slice(0, 160)}": `;
  return `provider instance "${problem.instance.slice(0, 80)}"${type}: ${where}${problem.message}`;
}

/** One ConfigError listing every problem, one per line, so start-up shows them all at once. */
export function instanceProblemsError(problems: readonly InstanceProblem[], prefix = ''): ConfigError {
  const instances = new Set(problems.map((problem) => problem.instance)).size;
  const heading = `${problems.length} ${problems.length === 1 ? 'error' : 'errors'} in ${instances} provider ${instances === 1 ? 'instance' : 'instances'}`;
  return new ConfigError(`${prefix}${heading}:\n${problems.map((problem) => `  - ${describeInstanceProblem(problem)}`).join('\n')}`);
}

function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? `${prefix}${issue.path.join('.')}: ` : prefix;
      return `${where}${issue.message}`;
    })
    .join('; ');
}

/** The instances of a --config file and the problems of the settings keymount reads from every instance. */
export interface ProviderInstancesFile {
  /** Every instance, with its type's settings apart, even one with problems (so its settings can be checked too). */
  readonly instances: Readonly<Record<string, ProviderInstanceConfig>>;
  readonly problems: readonly InstanceProblem[];
}

/**
 * Reads a --config file. Throws ConfigError when the file as a whole is
 * unusable (unreadable, not YAML, no providers map); problems of single
 * instances are returned, all of them.
 */
export function readProviderInstancesFile(file: string): ProviderInstancesFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read --config ${file}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(`--config ${file} is not valid YAML: ${(error as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(`--config ${file}: ${describeIssues(parsed.error, '')}`);
  if (Object.keys(parsed.data.providers).length === 0) throw new ConfigError(`--config ${file}: at least one provider instance is required`);
  const instances: Record<string, ProviderInstanceConfig> = {};
  const problems: InstanceProblem[] = [];
  for (const [name, raw] of Object.entries(parsed.data.providers)) {
    const written = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
    const writtenType = typeof written?.type === 'string' ? written.type : '';
    const problem = (setting: string, message: string): void => {
      problems.push({ instance: name, type: writtenType, setting, message });
    };
    if (!INSTANCE_NAME.test(name)) problem('', `instance name "${name.slice(0, 80)}" must be a lower-case DNS label (a-z, 0-9, -)`);
    if (written === undefined) {
      problem('', 'must be a map of settings with a type, such as {type: local-ca}');
      continue;
    }
    const common = providerInstanceSchema.safeParse(written);
    if (!common.success) {
      // The schema's own messages name the setting ("namespaces[1] ..."), except zod's "expected string" for a missing type.
      for (const issue of common.error.issues) problem(issue.path.map(String).join('.'), issue.path[0] === 'type' && writtenType === '' ? 'is required' : issue.message);
    }
    const { type: _type, minRefreshInterval: _minRefreshInterval, namespaces: _namespaces, ...settings } = written;
    const commonValues = common.success ? common.data : undefined;
    instances[name] = Object.freeze({
      type: writtenType,
      minRefreshIntervalMs: commonValues?.minRefreshInterval ?? DEFAULT_MIN_REFRESH_INTERVAL_MS,
      ...(commonValues?.namespaces === undefined ? {} : { namespaces: Object.freeze([...commonValues.namespaces]) }),
      settings: Object.freeze(settings),
    });
  }
  return { instances, problems };
}

type FlagValues = { [K in keyof typeof SERVE_OPTIONS]?: string };

/** Builds the frozen config from flags (winning) and environment variables. */
export function buildConfig(flags: FlagValues, env: Readonly<Record<string, string | undefined>>, isTty: boolean): Config {
  const merged: Record<string, string | undefined> = {};
  for (const [flag, option] of Object.entries(SERVE_OPTIONS)) {
    const envValue = env[option.env];
    merged[flag] = flags[flag as keyof FlagValues] ?? (envValue !== undefined && envValue !== '' ? envValue : option.default);
  }
  merged['node-id'] ??= hostname();
  const parsed = flagsSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, ''));
  const values = parsed.data;
  const configFile = values.config !== undefined ? resolve(values.config) : undefined;
  const providers = configFile !== undefined ? instancesOf(configFile) : DEFAULT_PROVIDERS;
  return Object.freeze({
    socketPath: resolve(values.endpoint.slice('unix://'.length)),
    driverName: values['driver-name'],
    nodeId: values['node-id'],
    stateDir: resolve(values['state-dir']),
    maxVolumeSizeBytes: values['max-volume-size'],
    providerTimeoutMs: values['provider-timeout'],
    logLevel: values['log-level'],
    logPretty: isTty,
    configFile,
    providers: Object.freeze({ ...providers }),
    metricsAddress: values['metrics-addr'],
    healthAddress: values['health-addr'],
    registerWithKubelet: values['register-with-kubelet'],
    kubeletRoot: resolve(values['kubelet-root']),
    kubeletRegistrationPath: values['kubelet-registration-path'] ?? resolve(values.endpoint.slice('unix://'.length)),
    shutdownTimeoutMs: values['shutdown-timeout'],
  });
}

/** The file's instances; any problem of the settings keymount reads from every instance stops start-up, all listed. */
function instancesOf(file: string): Readonly<Record<string, ProviderInstanceConfig>> {
  const { instances, problems } = readProviderInstancesFile(file);
  if (problems.length > 0) throw instanceProblemsError(problems, `--config ${file}: `);
  return instances;
}

/** Parses `keymount serve` arguments and the process environment. */
export function loadServeConfig(args: readonly string[]): Config {
  const options = Object.fromEntries(Object.keys(SERVE_OPTIONS).map((flag) => [flag, { type: 'string' as const }]));
  let values: FlagValues;
  try {
    values = parseArgs({ args: [...args], options, allowPositionals: false, strict: true }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return buildConfig(values, process.env, process.stdout.isTTY);
}
