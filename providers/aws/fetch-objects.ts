/**
 * Fetches every object of a volume, all or nothing: the first failure
 * cancels the calls still running and fails the whole fetch. Secrets are
 * fetched a few at a time, parameters in batches. When the primary region
 * does not answer (UNAVAILABLE after retries) and the instance has a
 * failover region, the same objects (or their failoverObject) are fetched
 * there; a refusal or a missing object is never masked by the failover.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { CallScope } from './aws-call.js';
import type { AwsIdentity, ClientPool } from './clients.js';
import { isRetryable } from './errors.js';
import type { AwsAttributes, AwsObject, ObjectSelector } from './objects.js';
import type { RetryPolicy } from './retry.js';
import { currentSecretVersion, getSecretValue, type ObjectValue } from './secrets-manager.js';
import { getParameters } from './ssm.js';

/** Secrets Manager calls in flight at once for one volume. */
const SECRET_CONCURRENCY = 8;

export interface FetchScope {
  readonly attributes: AwsAttributes;
  readonly identity: AwsIdentity;
  readonly pool: ClientPool;
  readonly retry: RetryPolicy;
}

/** Every object's value, in the order of the volume's objects. */
export async function fetchObjectValues(scope: FetchScope, signal: AbortSignal): Promise<ObjectValue[]> {
  const values = new Array<ObjectValue>(scope.attributes.objects.length);
  await allOrNothing(objectTasks(scope, values, { secret: getSecretValue, parameters: (selectors, ssm) => getParameters(selectors, true, ssm) }, true), signal);
  return values;
}

/**
 * Every object's current version in the primary region, read from metadata
 * (DescribeSecret, GetParameters without decryption): what a refresh
 * compares with the versions it holds before downloading anything.
 */
export async function fetchCurrentVersions(scope: FetchScope, signal: AbortSignal): Promise<(string | undefined)[]> {
  const versions = new Array<string | undefined>(scope.attributes.objects.length);
  const readers: Readers<string | undefined> = {
    secret: currentSecretVersion,
    parameters: async (selectors, ssm) => (await getParameters(selectors, false, ssm)).map((value) => value.version),
  };
  await allOrNothing(objectTasks(scope, versions, readers, false), signal);
  return versions;
}

interface Readers<T> {
  readonly secret: (selector: ObjectSelector, scope: CallScope<SecretsManagerClient>) => Promise<T>;
  readonly parameters: (selectors: readonly ObjectSelector[], scope: CallScope<SSMClient>) => Promise<T[]>;
}

type Task = (signal: AbortSignal) => Promise<void>;

/** One task per secret and one for all parameters, each storing its results at the objects' indexes. */
function objectTasks<T>(scope: FetchScope, results: T[], readers: Readers<T>, failover: boolean): Task[] {
  const { attributes } = scope;
  const indexed = attributes.objects.map((object, index) => ({ object, index }));
  const parameters = indexed.filter(({ object }) => object.type === 'ssmparameter');
  const tasks: Task[] = indexed
    .filter(({ object }) => object.type === 'secretsmanager')
    .map(({ object, index }) => async (signal) => {
      results[index] = await inRegions(scope, failover, signal, (region, useFailover) =>
        readers.secret(selectorIn(object, useFailover), callScope(scope, region, signal, (pool) => pool.secretsManager(region, scope.identity))),
      );
    });
  if (parameters.length > 0) {
    tasks.push(async (signal) => {
      const values = await inRegions(scope, failover, signal, (region, useFailover) =>
        readers.parameters(
          parameters.map(({ object }) => selectorIn(object, useFailover)),
          callScope(scope, region, signal, (pool) => pool.ssm(region, scope.identity)),
        ),
      );
      parameters.forEach(({ index }, position) => {
        results[index] = values[position] as T;
      });
    });
  }
  return tasks;
}

function selectorIn(object: AwsObject, useFailover: boolean): ObjectSelector {
  return useFailover ? (object.failover ?? object) : object;
}

function callScope<Client>(scope: FetchScope, region: string, signal: AbortSignal, client: (pool: ClientPool) => Client): CallScope<Client> {
  return { region, signal, retry: scope.retry, client: () => client(scope.pool) };
}

async function inRegions<T>(
  scope: FetchScope,
  failover: boolean,
  signal: AbortSignal,
  run: (region: string, useFailover: boolean) => Promise<T>,
): Promise<T> {
  const { region, failoverRegion } = scope.attributes;
  try {
    return await run(region, false);
  } catch (error) {
    if (!failover || failoverRegion === undefined || signal.aborted || !isRetryable(error)) throw error;
    return run(failoverRegion, true);
  }
}

/** Runs the tasks a few at a time; the first failure aborts the others and is what the caller sees. */
async function allOrNothing(tasks: readonly Task[], signal: AbortSignal): Promise<void> {
  const cancel = new AbortController();
  const taskSignal = AbortSignal.any([signal, cancel.signal]);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let task = tasks[next++]; task !== undefined; task = tasks[next++]) await task(taskSignal);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(SECRET_CONCURRENCY, tasks.length) }, worker));
  } catch (error) {
    cancel.abort();
    signal.throwIfAborted();
    throw error;
  }
}
