/**
 * Failures moto cannot produce on demand (throttling, 5xx, resets, expired
 * session credentials, an STS refusal of the token), with the SDK's
 * transport mocked by aws-sdk-client-mock. Everything else runs against moto.
 */
import { GetSecretValueCommand, SecretsManagerClient, SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleWithWebIdentityCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROLE_ARN, createAws, expectKeymountError, fetchFiles, fetchVolume, filesOf } from './helpers.js';

const secretsManager = mockClient(SecretsManagerClient);
const sts = mockClient(STSClient);

const OBJECTS = { roleArn: ROLE_ARN, objects: '- objectName: db' };
const SETTINGS = { region: 'eu-west-1' };

function serviceError(name: string, fault: 'client' | 'server', status: number): SecretsManagerServiceException {
  return new SecretsManagerServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: `${name} from the mock` });
}

beforeEach(() => {
  sts.reset();
  secretsManager.reset();
  sts.on(AssumeRoleWithWebIdentityCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIAMOCK',
      SecretAccessKey: 'mock-secret',
      SessionToken: 'mock-session',
      Expiration: new Date(Date.now() + 3_600_000),
    },
  });
});
afterEach(() => {
  sts.reset();
  secretsManager.reset();
});

describe('aws provider: throttling, outages and refusals (SDK mock)', () => {
  it('retries throttling with backoff and succeeds within the deadline', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(serviceError('ThrottlingException', 'client', 400))
      .rejectsOnce(serviceError('TooManyRequestsException', 'client', 429))
      .resolves({ SecretString: 'finally', VersionId: 'v1' });
    const { provider } = createAws(SETTINGS);
    const result = await fetchFiles(provider, OBJECTS);
    expect(filesOf(result).db?.text).toBe('finally');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it.each([
    ['throttling that does not stop', serviceError('ThrottlingException', 'client', 400)],
    ['a 5xx', serviceError('InternalServiceError', 'server', 500)],
    ['a 503 of an unknown kind', serviceError('SomethingNew', 'server', 503)],
    ['a connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a request timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
  ])('turns %s into UNAVAILABLE after the retries', async (_, failure) => {
    secretsManager.on(GetSecretValueCommand).rejects(failure);
    const { provider } = createAws(SETTINGS);
    const error = await expectKeymountError(() => fetchVolume(provider, OBJECTS), 'UNAVAILABLE');
    expect(error.message).toContain('Secrets Manager in eu-west-1 did not answer for secret "db"');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it('does not retry an access denied, and says which permission is missing', async () => {
    secretsManager.on(GetSecretValueCommand).rejects(serviceError('AccessDeniedException', 'client', 400));
    const { provider } = createAws(SETTINGS);
    const error = await expectKeymountError(() => fetchVolume(provider, OBJECTS), 'PERMISSION_DENIED');
    expect(error.message).toContain('secretsmanager:GetSecretValue');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('maps an STS refusal of the pod token to PERMISSION_DENIED naming the trust policy', async () => {
    sts
      .on(AssumeRoleWithWebIdentityCommand)
      .rejects(new STSServiceException({ name: 'InvalidIdentityToken', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'No OpenIDConnect provider found' }));
    const { provider } = createAws(SETTINGS);
    const error = await expectKeymountError(() => fetchVolume(provider, OBJECTS), 'PERMISSION_DENIED');
    expect(error.message).toContain(`STS in eu-west-1 refused access to role "${ROLE_ARN}"`);
    expect(error.message).toContain('trust policy');
    expect(error.message).toContain('subject "system:serviceaccount:shop:web"');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('asks STS again when AWS stops accepting the cached session credentials', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(serviceError('ExpiredTokenException', 'client', 400))
      .resolves({ SecretString: 'ok', VersionId: 'v1' });
    const { provider } = createAws(SETTINGS, { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    await expectKeymountError(() => fetchVolume(provider, OBJECTS), 'UNAVAILABLE');
    await fetchFiles(provider, OBJECTS);
    expect(sts.commandCalls(AssumeRoleWithWebIdentityCommand)).toHaveLength(2);
  });

  it('stops retrying as soon as the deadline passes', async () => {
    secretsManager.on(GetSecretValueCommand).rejects(serviceError('ThrottlingException', 'client', 400));
    const { provider } = createAws(SETTINGS, { retry: { attempts: 10, baseDelayMs: 10_000, maxDelayMs: 10_000 } });
    const deadline = AbortSignal.timeout(200);
    const started = Date.now();
    await expect(fetchVolume(provider, OBJECTS, { signal: deadline })).rejects.toThrow();
    expect(deadline.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('passes the abort signal to every SDK call', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'x', VersionId: 'v1' });
    const { provider } = createAws(SETTINGS);
    const controller = new AbortController();
    await fetchFiles(provider, OBJECTS, { signal: controller.signal });
    const call = secretsManager.commandCalls(GetSecretValueCommand)[0];
    // sinon records send()'s second argument too, though the mock's types list only the command.
    const options = (call?.args as unknown[] | undefined)?.[1] as { abortSignal?: AbortSignal } | undefined;
    expect(options?.abortSignal).toBeDefined();
    controller.abort();
    expect(options?.abortSignal?.aborted).toBe(true);
  });
});
