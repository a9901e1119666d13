/**
 * One configured aws instance: resolves whose credentials a pod's volume
 * uses, skips the download when a refresh finds every object at the version
 * it already has, and otherwise fetches all objects (all or nothing).
 */
import {
  KeymountError,
  UNCHANGED,
  type FetchRequest,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderDependencies,
  type Unchanged,
} from '../../src/provider/contract.js';
import type { ClientPool } from './clients.js';
import type { IdentityResolver, ResolvedIdentity } from './credentials.js';
import { fetchCurrentVersions, fetchObjectValues, type FetchScope } from './fetch-objects.js';
import { ATTRIBUTE_KEYS, parseAwsAttributes, type AwsAttributes } from './objects.js';
import type { RetryPolicy } from './retry.js';
import type { AwsSettings } from './settings.js';
import { versionKeys, volumeContent } from './volume-content.js';

export const AWS_TYPE = 'aws';

export interface AwsInstance {
  readonly instanceName: string;
  readonly settings: AwsSettings;
  readonly deps: ProviderDependencies;
  readonly pool: ClientPool;
  readonly identities: IdentityResolver;
  readonly retry: RetryPolicy;
}

export class AwsProvider implements Provider<AwsAttributes> {
  readonly type = AWS_TYPE;
  readonly attributeKeys = ATTRIBUTE_KEYS;

  constructor(private readonly instance: AwsInstance) {}

  parseAttributes(attributes: Readonly<Record<string, string>>, _pod: PodIdentity): AwsAttributes {
    const { instanceName, settings } = this.instance;
    return parseAwsAttributes(attributes, { instanceName, settings });
  }

  async fetch(request: FetchRequest<AwsAttributes>, signal: AbortSignal): Promise<FetchResult | Unchanged> {
    signal.throwIfAborted();
    const { attributes, pod } = request;
    const { pool, identities, retry } = this.instance;
    const regions = attributes.failoverRegion === undefined ? [attributes.region] : [attributes.region, attributes.failoverRegion];
    const identity = await identities.resolve({ roleArn: attributes.roleArn, pod, tokens: request.tokens, regions }, signal);
    const scope: FetchScope = { attributes, identity, pool, retry };
    try {
      if (await this.#unchanged(scope, request.previousVersions, signal)) {
        this.#log(request, 'aws: every object is at the version already in the volume');
        return UNCHANGED;
      }
      const content = volumeContent(attributes.objects, await fetchObjectValues(scope, signal));
      this.#log(request, 'aws: fetched objects', content.versions);
      return content;
    } catch (error) {
      this.#forgetRejected(identity, error);
      throw error;
    }
  }

  close(): Promise<void> {
    this.instance.pool.close();
    return Promise.resolve();
  }

  /** True when every object's current version is the one the previous fetch returned. */
  async #unchanged(scope: FetchScope, previous: Readonly<Record<string, string>>, signal: AbortSignal): Promise<boolean> {
    const keys = versionKeys(scope.attributes.objects);
    if (keys.length !== Object.keys(previous).length || keys.some((key) => previous[key] === undefined)) return false;
    try {
      const current = await fetchCurrentVersions(scope, signal);
      return keys.every((key, index) => current[index] !== undefined && current[index] === previous[key]);
    } catch (error) {
      signal.throwIfAborted();
      // The full fetch that follows reports the failure (or succeeds through the failover region).
      this.instance.deps.logger.debug({ instance: this.instance.instanceName, err: error }, 'aws: version check failed, fetching everything');
      return false;
    }
  }

  /** Cached STS credentials AWS refused or that may have expired are dropped, so the next attempt asks STS again. */
  #forgetRejected(identity: ResolvedIdentity, error: unknown): void {
    if (error instanceof KeymountError && (error.code === 'PERMISSION_DENIED' || error.code === 'UNAVAILABLE')) {
      this.instance.identities.forget(identity);
    }
  }

  #log(request: FetchRequest<AwsAttributes>, message: string, versions?: Readonly<Record<string, string>>): void {
    const { attributes, pod } = request;
    this.instance.deps.logger.debug(
      {
        instance: this.instance.instanceName,
        namespace: pod.namespace,
        pod: pod.name,
        region: attributes.region,
        roleArn: attributes.roleArn,
        objects: attributes.objects.length,
        ...(versions === undefined ? {} : { versions }),
      },
      message,
    );
  }
}
