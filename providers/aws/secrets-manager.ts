/** Secrets Manager: a secret's value (text or binary, byte for byte) and, for refreshes, which version is current. */
import { DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { failedPrecondition } from '../../src/provider/contract.js';
import { callAws, type CallScope } from './aws-call.js';
import type { ObjectSelector } from './objects.js';

/** An object's bytes and the version they are. */
export interface ObjectValue {
  readonly contents: Buffer;
  readonly version: string;
}

const DEFAULT_STAGE = 'AWSCURRENT';
const SERVICE = 'Secrets Manager';
const DENIED_HINT =
  'the role needs secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on the secret, and kms:Decrypt on its key ' +
  'when the secret uses a customer-managed KMS key';

export async function getSecretValue(selector: ObjectSelector, scope: CallScope<SecretsManagerClient>): Promise<ObjectValue> {
  const subject = describeSecret(selector);
  const output = await callAws(scope, { service: SERVICE, subject, deniedHint: DENIED_HINT }, (client, options) =>
    client.send(
      new GetSecretValueCommand({ SecretId: selector.name, VersionId: selector.version, VersionStage: selector.versionLabel }),
      options,
    ),
  );
  const contents =
    output.SecretBinary !== undefined
      ? Buffer.from(output.SecretBinary)
      : output.SecretString !== undefined
        ? Buffer.from(output.SecretString, 'utf8')
        : undefined;
  if (contents === undefined || output.VersionId === undefined) {
    throw failedPrecondition(`${subject} in ${scope.region} has neither a string nor a binary value`);
  }
  return { contents, version: output.VersionId };
}

/**
 * The version ID the selector points at now, from the secret's metadata
 * (no value is transferred); undefined when no version carries the label.
 */
export async function currentSecretVersion(
  selector: ObjectSelector,
  scope: CallScope<SecretsManagerClient>,
): Promise<string | undefined> {
  // A pinned version ID never changes what it points at.
  if (selector.version !== undefined) return selector.version;
  const output = await callAws(scope, { service: SERVICE, subject: describeSecret(selector), deniedHint: DENIED_HINT }, (client, options) =>
    client.send(new DescribeSecretCommand({ SecretId: selector.name }), options),
  );
  const stage = selector.versionLabel ?? DEFAULT_STAGE;
  const current = Object.entries(output.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage));
  return current?.[0];
}

function describeSecret(selector: ObjectSelector): string {
  const pinned = [
    selector.version === undefined ? undefined : `version "${selector.version}"`,
    selector.versionLabel === undefined ? undefined : `stage "${selector.versionLabel}"`,
  ].filter((part) => part !== undefined);
  return `secret "${selector.name}"${pinned.length > 0 ? ` (${pinned.join(', ')})` : ''}`;
}
