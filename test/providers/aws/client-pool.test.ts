/** The SDK client pool: one client per service, region and credentials, destroyed when the credentials expire or at close. */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { ClientPool, type AwsClientFactory, type ClientOptions } from '../../../providers/aws/clients.js';
import { FakeClock } from './helpers.js';

interface FakeClient {
  readonly options: ClientOptions;
  destroyed: boolean;
  destroy(): void;
}

class FakeFactory implements AwsClientFactory {
  readonly made: FakeClient[] = [];
  secretsManager(options: ClientOptions): SecretsManagerClient {
    return this.#make(options) as unknown as SecretsManagerClient;
  }
  ssm(options: ClientOptions): SSMClient {
    return this.#make(options) as unknown as SSMClient;
  }
  sts(options: ClientOptions): STSClient {
    return this.#make(options) as unknown as STSClient;
  }
  #make(options: ClientOptions): FakeClient {
    const client: FakeClient = {
      options,
      destroyed: false,
      destroy() {
        client.destroyed = true;
      },
    };
    this.made.push(client);
    return client;
  }
}

const SETTINGS = { region: 'us-east-1', endpoint: { ssm: 'http://127.0.0.1:1' }, allowRegionOverride: false, auth: { type: 'node' as const, sharedIdentity: { acknowledged: true, allow: { ssmparameter: ['*'] } } } };

function credentials(accessKeyId: string, clock: FakeClock, lifetimeMs = 3_600_000): { credentials: { accessKeyId: string; secretAccessKey: string; expiration: Date } } {
  return { credentials: { accessKeyId, secretAccessKey: 'x', expiration: new Date(clock.now().getTime() + lifetimeMs) } };
}

describe('aws client pool', () => {
  it('reuses a client for the same service, region and credentials only', () => {
    const clock = new FakeClock();
    const factory = new FakeFactory();
    const pool = new ClientPool(factory, SETTINGS, clock);
    const pod = credentials('ASIA1', clock);
    const first = pool.secretsManager('us-east-1', pod);
    expect(pool.secretsManager('us-east-1', pod)).toBe(first);
    expect(pool.secretsManager('us-west-2', pod)).not.toBe(first);
    expect(pool.secretsManager('us-east-1', credentials('ASIA2', clock))).not.toBe(first);
    expect(pool.ssm('us-east-1', pod)).not.toBe(first);
    expect(factory.made).toHaveLength(4);
    // Only the SSM endpoint was set; credentials travel with the client, none for node auth.
    expect(factory.made.map((client) => client.options.endpoint)).toEqual([undefined, undefined, undefined, 'http://127.0.0.1:1']);
    expect(pool.sts('us-east-1')).toBe(pool.sts('us-east-1'));
    expect(factory.made.at(-1)?.options.credentials).toBeUndefined();
  });

  it('destroys clients whose credentials expired, and every client at close', () => {
    const clock = new FakeClock();
    const factory = new FakeFactory();
    const pool = new ClientPool(factory, SETTINGS, clock);
    pool.secretsManager('us-east-1', credentials('SHORT', clock, 60_000));
    pool.secretsManager('us-east-1', credentials('LONG', clock));
    clock.advance(61_000);
    pool.ssm('us-east-1', {});
    expect(factory.made.map((client) => client.destroyed)).toEqual([true, false, false]);
    pool.close();
    expect(factory.made.every((client) => client.destroyed)).toBe(true);
  });
});
