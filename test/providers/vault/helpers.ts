/** Builds `vault` provider instances and fetch requests the way the core does, for provider-level tests. */
import { randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import {
  KeymountError,
  Sensitive,
  type FetchRequest,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderLogger,
  type Unchanged,
} from '../../../src/provider/contract.js';
import { createVaultProviderType, type VaultAttributes } from '../../../providers/vault/index.js';
import { defaultVaultEnvironment, type VaultEnvironment } from '../../../providers/vault/connection.js';
import type { VaultCall } from '../../../providers/vault/client.js';

export interface LogLine {
  readonly level: string;
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

export function captureLogger(): { logger: ProviderLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields, message });
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** The real HTTP client, with every call it sends recorded (method and path only, never a token or body). */
export function recordingEnvironment(): { env: VaultEnvironment; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    env: {
      ...defaultVaultEnvironment,
      clientFactory: (options) => {
        const transport = defaultVaultEnvironment.clientFactory(options);
        return {
          send: (call: VaultCall, signal: AbortSignal) => {
            calls.push(`${call.method} ${call.path}`);
            return transport.send(call, signal);
          },
        };
      },
    },
  };
}

export interface TestProvider {
  readonly provider: Provider<VaultAttributes>;
  readonly logs: LogLine[];
}

export async function createProvider(settings: Record<string, unknown>, env: VaultEnvironment = defaultVaultEnvironment): Promise<TestProvider> {
  const { logger, lines } = captureLogger();
  const provider = await createVaultProviderType(env).create('vault', settings, { clock: { now: () => new Date() }, logger });
  return { provider: provider as Provider<VaultAttributes>, logs: lines };
}

export function pod(overrides: Partial<PodIdentity> = {}): PodIdentity {
  return { namespace: 'shop', name: 'web-0', uid: randomUUID(), serviceAccountName: 'web', ...overrides };
}

export interface RequestOptions {
  readonly pod?: PodIdentity;
  readonly jwt?: string;
  readonly audience?: string;
  readonly volumeId?: string;
  readonly previousVersions?: Record<string, string>;
}

export function fetchRequest<Attributes = VaultAttributes>(
  provider: Provider<Attributes>,
  attributes: Record<string, string>,
  options: RequestOptions = {},
): FetchRequest<Attributes> {
  const identity = options.pod ?? pod();
  const tokens = new Map(
    options.jwt === undefined ? [] : [[options.audience ?? 'vault', { token: new Sensitive(options.jwt), expiresAt: new Date(Date.now() + 600_000) }]],
  );
  return {
    volumeId: options.volumeId ?? `csi-${randomUUID()}`,
    attributes: provider.parseAttributes(attributes, identity),
    pod: identity,
    tokens,
    secrets: new Sensitive({}),
    previousVersions: options.previousVersions ?? {},
  };
}

/** The objects attribute for a list of objects, as YAML (what a pod spec holds). */
export function objects(...items: Record<string, unknown>[]): string {
  return stringify(items);
}

export function asResult(outcome: FetchResult | Unchanged): FetchResult {
  if ('unchanged' in outcome) throw new Error('expected files, got UNCHANGED');
  return outcome;
}

/** file path → contents as text. */
export function filesOf(outcome: FetchResult | Unchanged): Record<string, string> {
  return Object.fromEntries(asResult(outcome).files.map((file) => [file.path, file.contents.toString('utf8')]));
}

/** The KeymountError a promise rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<KeymountError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KeymountError) return error;
    throw error;
  }
  throw new Error('expected a KeymountError, but the call succeeded');
}
