/**
 * AWS SDK clients, made through a factory the instance receives at create()
 * time (tests swap it), and kept in a small pool so that refreshes of the
 * same pod reuse their connections instead of opening new ones each time.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { DEFAULT_BACKEND_ANSWER_LIMIT, type Clock } from '../../src/provider/contract.js';
import { CappedRequestHandler } from './request-handler.js';
import { endpointFor, type AwsService, type AwsSettings } from './settings.js';

/** Temporary credentials from STS (the SDK's AwsCredentialIdentity shape). */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Whose credentials a call uses: a pod's assumed role, or (undefined) the driver's own default chain. */
export interface AwsIdentity {
  readonly credentials?: AwsCredentials;
}

export interface ClientOptions {
  readonly region: string;
  readonly endpoint?: string;
  /** Absent: the SDK's default credential chain (node auth); STS web-identity calls are unsigned anyway. */
  readonly credentials?: AwsCredentials;
  /** The most bytes one answer may have (the volume size limit plus framing); the connection is closed past it. */
  readonly maxAnswerBytes: number;
}

export interface AwsClientFactory {
  secretsManager(options: ClientOptions): SecretsManagerClient;
  ssm(options: ClientOptions): SSMClient;
  sts(options: ClientOptions): STSClient;
}

/** One attempt per SDK call (retry.ts retries inside the deadline); a hung connection fails the attempt. */
const SDK_CLIENT_DEFAULTS = { maxAttempts: 1 } as const;
const CONNECTION_TIMEOUT_MS = 3_000;
/** The whole of one attempt, answer included: a server that trickles its answer fails the attempt at this point. */
const ATTEMPT_TIMEOUT_MS = 10_000;

function sdkOptions(options: ClientOptions): Record<string, unknown> {
  return {
    ...SDK_CLIENT_DEFAULTS,
    requestHandler: new CappedRequestHandler({
      connectionTimeoutMs: CONNECTION_TIMEOUT_MS,
      attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
      maxAnswerBytes: options.maxAnswerBytes,
    }),
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

/** The real SDK clients. */
export const sdkClientFactory: AwsClientFactory = {
  secretsManager: (options) => new SecretsManagerClient(sdkOptions(options)),
  ssm: (options) => new SSMClient(sdkOptions(options)),
  sts: (options) => new STSClient(sdkOptions(options)),
};

interface PooledClient {
  readonly client: { destroy(): void };
  readonly expiresAt: number;
}

/** Clients beyond this many (least recently used first) are destroyed. */
const MAX_POOLED_CLIENTS = 128;

export class ClientPool {
  readonly #clients = new Map<string, PooledClient>();

  constructor(
    private readonly factory: AwsClientFactory,
    private readonly settings: AwsSettings,
    private readonly clock: Clock,
    private readonly maxAnswerBytes: number = DEFAULT_BACKEND_ANSWER_LIMIT,
  ) {}

  secretsManager(region: string, identity: AwsIdentity): SecretsManagerClient {
    return this.#get('secretsmanager', region, identity, (options) => this.factory.secretsManager(options));
  }

  ssm(region: string, identity: AwsIdentity): SSMClient {
    return this.#get('ssm', region, identity, (options) => this.factory.ssm(options));
  }

  /** STS clients carry no credentials: AssumeRoleWithWebIdentity is authenticated by the token it sends. */
  sts(region: string): STSClient {
    return this.#get('sts', region, {}, (options) => this.factory.sts(options));
  }

  close(): void {
    for (const { client } of this.#clients.values()) client.destroy();
    this.#clients.clear();
  }

  #get<Client extends { destroy(): void }>(
    service: AwsService,
    region: string,
    identity: AwsIdentity,
    create: (options: ClientOptions) => Client,
  ): Client {
    const now = this.clock.now().getTime();
    this.#dropExpired(now);
    // The access key ID changes whenever STS hands out new credentials, so a client never outlives its credentials.
    const key = `${service}|${region}|${identity.credentials?.accessKeyId ?? 'node'}`;
    const pooled = this.#clients.get(key);
    if (pooled !== undefined) {
      // Re-insert: Map order is the least-recently-used order.
      this.#clients.delete(key);
      this.#clients.set(key, pooled);
      return pooled.client as Client;
    }
    const endpoint = endpointFor(this.settings, service);
    const { credentials } = identity;
    const client = create({
      region,
      maxAnswerBytes: this.maxAnswerBytes,
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(credentials === undefined ? {} : { credentials }),
    });
    const expiresAt = credentials?.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    this.#clients.set(key, { client, expiresAt });
    this.#evictOverflow();
    return client;
  }

  #dropExpired(now: number): void {
    for (const [key, pooled] of this.#clients) {
      if (pooled.expiresAt <= now) {
        pooled.client.destroy();
        this.#clients.delete(key);
      }
    }
  }

  #evictOverflow(): void {
    for (const [key, pooled] of this.#clients) {
      if (this.#clients.size <= MAX_POOLED_CLIENTS) return;
      pooled.client.destroy();
      this.#clients.delete(key);
    }
  }
}
