/**
 * Fixtures for the aws provider tests: pod tokens as the kubelet sends them,
 * an instance built through the public create path, and a fetch as the core
 * does it (parseAttributes, then fetch).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { createAwsProvider, type AwsClientFactory, type ClientOptions, type RetryPolicy } from '../../../providers/aws/index.js';
import type { AwsProvider } from '../../../providers/aws/provider.js';
import {
  Sensitive,
  isUnchanged,
  type FetchResult,
  type PodIdentity,
  type ServiceAccountToken,
  type Unchanged,
} from '../../../src/provider/contract.js';
import { FakeClock, POD, RecordingLogger } from '../local-ca/helpers.js';

export { FakeClock, POD, RecordingLogger, expectKeymountError } from '../local-ca/helpers.js';

export const AUDIENCE = 'sts.amazonaws.com';
export const ROLE_ARN = 'arn:aws:iam::123456789012:role/shop-web';
/** Retries without the production pauses, so failure tests stay fast. */
export const FAST_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

/** A service-account token shaped like the apiserver's (unsigned: moto, like our cache key, does not verify it). */
export function podToken(subject = `system:serviceaccount:${POD.namespace}:${POD.serviceAccountName}`, nonce = 'a'): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return [
    encode({ alg: 'RS256', kid: 'test' }),
    encode({ aud: [AUDIENCE], sub: subject, iss: 'https://kubernetes.default.svc', iat: now, exp: now + 3600, jti: nonce }),
    encode(`signature-${nonce}`),
  ].join('.');
}

export function tokensFor(jwt: string | undefined, audience = AUDIENCE): Map<string, ServiceAccountToken> {
  const tokens = new Map<string, ServiceAccountToken>();
  if (jwt !== undefined) tokens.set(audience, { token: new Sensitive(jwt), expiresAt: new Date(Date.now() + 3_600_000) });
  return tokens;
}

export interface AwsInstance {
  readonly provider: AwsProvider;
  readonly logger: RecordingLogger;
  readonly clock: FakeClock;
}

export function createAws(
  settings: Record<string, unknown>,
  options: { clients?: AwsClientFactory; clock?: FakeClock; retry?: RetryPolicy } = {},
): AwsInstance {
  const logger = new RecordingLogger();
  const clock = options.clock ?? new FakeClock();
  const provider = createAwsProvider('aws-test', settings, { clock, logger }, {
    ...(options.clients === undefined ? {} : { clients: options.clients }),
    retry: options.retry ?? FAST_RETRY,
  });
  return { provider, logger, clock };
}

export interface FetchOptions {
  readonly jwt?: string | null;
  readonly pod?: PodIdentity;
  readonly previousVersions?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** parseAttributes + fetch, as the core runs them for a publish (or, with previousVersions, a refresh). */
export async function fetchVolume(
  provider: AwsProvider,
  attributes: Record<string, string>,
  options: FetchOptions = {},
): Promise<FetchResult | Unchanged> {
  const pod = options.pod ?? POD;
  const parsed = provider.parseAttributes(attributes, pod);
  const jwt = options.jwt === null ? undefined : (options.jwt ?? podToken());
  return provider.fetch(
    {
      volumeId: 'csi-aws-test',
      attributes: parsed,
      pod,
      tokens: tokensFor(jwt),
      secrets: new Sensitive({}),
      previousVersions: options.previousVersions ?? {},
    },
    options.signal ?? new AbortController().signal,
  );
}

export async function fetchFiles(provider: AwsProvider, attributes: Record<string, string>, options: FetchOptions = {}): Promise<FetchResult> {
  const outcome = await fetchVolume(provider, attributes, options);
  if (isUnchanged(outcome)) throw new Error('expected files, got "unchanged"');
  return outcome;
}

/** Path → contents (and mode) of a fetch result, as the core would write them. */
export function filesOf(result: FetchResult): Record<string, { text: string; bytes: Buffer; mode: number | undefined }> {
  return Object.fromEntries(
    result.files.map((file) => [file.path, { text: file.contents.toString('utf8'), bytes: file.contents, mode: file.mode }]),
  );
}

/** The slice of the SDK's middleware stack the counter uses. */
interface MiddlewareAdder {
  add(
    middleware: (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => Promise<unknown>,
    options: { step: 'initialize'; name: string },
  ): void;
}

/** The real SDK clients, counting the calls each operation gets. */
export class CountingClients implements AwsClientFactory {
  readonly calls = new Map<string, number>();
  readonly regions: string[] = [];

  constructor(
    private readonly options: {
      /** Where each client really connects (default: where the provider asked). */
      endpointFor?: (options: ClientOptions) => string | undefined;
      /** Credentials for clients the provider makes without any (node auth). */
      nodeCredentials?: { accessKeyId: string; secretAccessKey: string };
    } = {},
  ) {}

  count(operation: string): number {
    return this.calls.get(operation) ?? 0;
  }

  secretsManager(options: ClientOptions): SecretsManagerClient {
    return this.#counted(new SecretsManagerClient(this.#options(options)));
  }

  ssm(options: ClientOptions): SSMClient {
    return this.#counted(new SSMClient(this.#options(options)));
  }

  sts(options: ClientOptions): STSClient {
    return this.#counted(new STSClient(this.#options(options)));
  }

  #options(options: ClientOptions): Record<string, unknown> {
    this.regions.push(options.region);
    return {
      ...options,
      endpoint: this.options.endpointFor?.(options) ?? options.endpoint,
      credentials: options.credentials ?? this.options.nodeCredentials,
      maxAttempts: 1,
    };
  }

  #counted<Client extends { middlewareStack: object }>(client: Client): Client {
    (client.middlewareStack as MiddlewareAdder).add(
      (next, context) => async (args) => {
        const operation = context.commandName ?? 'unknown';
        this.calls.set(operation, this.count(operation) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'keymountTestCounter' },
    );
    return client;
  }
}
