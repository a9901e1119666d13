/**
 * SSM Parameter Store: parameters in batches of ten (GetParameters' limit),
 * SecureString values decrypted. A batch never holds one parameter name
 * twice (say version 1 and version 2 of it), because AWS's answer does not
 * say which selector each returned parameter answers.
 */
import { GetParametersCommand, type Parameter, type SSMClient } from '@aws-sdk/client-ssm';
import { failedPrecondition } from '../../src/provider/contract.js';
import { callAws, type CallScope } from './aws-call.js';
import type { ObjectSelector } from './objects.js';
import type { ObjectValue } from './secrets-manager.js';

export const SSM_BATCH_SIZE = 10;
const SERVICE = 'SSM Parameter Store';
const DENIED_HINT = 'the role needs ssm:GetParameters on the parameters, and kms:Decrypt on the key of SecureString parameters';

/**
 * Fetches parameters, batched, and returns their values in the order of the
 * selectors. Without `decrypt`, SecureString values stay encrypted: for
 * refresh checks, which only need the versions.
 */
export async function getParameters(
  selectors: readonly ObjectSelector[],
  decrypt: boolean,
  scope: CallScope<SSMClient>,
): Promise<ObjectValue[]> {
  const indexed = selectors.map((selector, index) => ({ selector, index }));
  const values = new Array<ObjectValue>(selectors.length);
  await Promise.all(
    ssmBatches(indexed, ({ selector }) => selector.name).map(async (batch) => {
      const batchValues = await getParameterBatch(
        batch.map(({ selector }) => selector),
        decrypt,
        scope,
      );
      batch.forEach(({ index }, position) => {
        const value = batchValues[position];
        if (value !== undefined) values[index] = value;
      });
    }),
  );
  return values;
}

/** Splits items into batches of at most ten, no name twice in one batch. */
export function ssmBatches<T>(items: readonly T[], nameOf: (item: T) => string): T[][] {
  const batches: T[][] = [];
  for (const item of items) {
    const name = nameOf(item);
    const batch = batches.find((candidate) => candidate.length < SSM_BATCH_SIZE && !candidate.some((other) => nameOf(other) === name));
    if (batch === undefined) batches.push([item]);
    else batch.push(item);
  }
  return batches;
}

/** One GetParameters call for a batch from ssmBatches; values in the order of the selectors. */
async function getParameterBatch(
  selectors: readonly ObjectSelector[],
  decrypt: boolean,
  scope: CallScope<SSMClient>,
): Promise<ObjectValue[]> {
  const requested = selectors.map(parameterSelector);
  const subject = `parameter${requested.length > 1 ? 's' : ''} ${requested.map((name) => `"${name}"`).join(', ')}`;
  const output = await callAws(scope, { service: SERVICE, subject, deniedHint: DENIED_HINT }, (client, options) =>
    client.send(new GetParametersCommand({ Names: requested, WithDecryption: decrypt }), options),
  );
  const parameters = output.Parameters ?? [];
  const found = selectors.map((selector) => parameters.find((parameter) => answers(parameter, selector)));
  const missing = requested.filter((_, index) => found[index]?.Value === undefined);
  if (missing.length > 0) {
    throw failedPrecondition(
      `parameter${missing.length > 1 ? 's' : ''} ${missing.map((name) => `"${name}"`).join(', ')} not found in ${SERVICE} in ` +
        `${scope.region}; check the name, the version or label asked for, and the region`,
    );
  }
  return found.map((parameter) => ({
    contents: Buffer.from(parameter?.Value ?? '', 'utf8'),
    version: String(parameter?.Version ?? ''),
  }));
}

/** GetParameters' selector syntax: name, name:version or name:label. */
function parameterSelector(selector: ObjectSelector): string {
  const pin = selector.version ?? selector.versionLabel;
  return pin === undefined ? selector.name : `${selector.name}:${pin}`;
}

function answers(parameter: Parameter, selector: ObjectSelector): boolean {
  if (parameter.Name !== selector.name && parameter.ARN !== selector.name) return false;
  return selector.version === undefined || parameter.Version === undefined || String(parameter.Version) === selector.version;
}
