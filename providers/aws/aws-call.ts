/**
 * What every AWS call of one fetch shares: the region, the caller's signal,
 * the retry policy, and how to describe the call in an error.
 */
import { awsError, type AwsCall } from './errors.js';
import { withRetries, type RetryPolicy } from './retry.js';

export interface CallScope<Client> {
  readonly region: string;
  readonly signal: AbortSignal;
  readonly retry: RetryPolicy;
  /** Asked again on each attempt, so a retry never runs on a client the pool has since destroyed. */
  readonly client: () => Client;
}

/** One SDK call with retries inside the deadline and its failure mapped for the pod's author. */
export async function callAws<Client, Output>(
  scope: CallScope<Client>,
  call: Omit<AwsCall, 'region'>,
  send: (client: Client, options: { abortSignal: AbortSignal }) => Promise<Output>,
): Promise<Output> {
  const described: AwsCall = { ...call, region: scope.region };
  return withRetries(
    () => send(scope.client(), { abortSignal: scope.signal }),
    (error) => awsError(error, described),
    scope.signal,
    scope.retry,
  );
}
