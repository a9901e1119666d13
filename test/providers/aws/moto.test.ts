/**
 * The aws provider against moto's server mode: the real SDK, real STS
 * AssumeRoleWithWebIdentity, real Secrets Manager and SSM answers over HTTP.
 * Seeding also goes through the real SDK.
 */
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { LabelParameterVersionCommand, PutParameterCommand, type ParameterType } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isUnchanged } from '../../../src/provider/contract.js';
import { MOTO_CREDENTIALS, MOTO_START_TIMEOUT_MS, startMoto, type MotoServer } from '../../helpers/moto.js';
import { CountingClients, FAST_RETRY, ROLE_ARN, createAws, expectKeymountError, fetchFiles, fetchVolume, filesOf, podToken } from './helpers.js';

let moto: MotoServer;

beforeAll(async () => {
  moto = await startMoto();
}, MOTO_START_TIMEOUT_MS);
afterAll(async () => {
  await moto.stop();
});
beforeEach(async () => {
  await moto.reset();
});

function irsa(clients = new CountingClients()): { provider: ReturnType<typeof createAws>['provider']; clients: CountingClients; clock: ReturnType<typeof createAws>['clock'] } {
  const { provider, clock } = createAws({ region: 'us-east-1', endpoint: moto.endpoint }, { clients });
  return { provider, clients, clock };
}

async function createSecret(name: string, value: string | Uint8Array, region = 'us-east-1'): Promise<string> {
  const output = await moto
    .secretsManager(region)
    .send(new CreateSecretCommand({ Name: name, ...(typeof value === 'string' ? { SecretString: value } : { SecretBinary: value }) }));
  return output.VersionId ?? '';
}

async function updateSecret(name: string, value: string): Promise<string> {
  const output = await moto.secretsManager().send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  return output.VersionId ?? '';
}

async function putParameter(name: string, value: string, type: ParameterType = 'String'): Promise<number> {
  const output = await moto.ssm().send(new PutParameterCommand({ Name: name, Value: value, Type: type, Overwrite: true }));
  return output.Version ?? 0;
}

const attributes = (objects: string): Record<string, string> => ({ roleArn: ROLE_ARN, objects });

describe('aws provider against moto: Secrets Manager', () => {
  it('writes string and binary secrets byte for byte, with their VersionIds', async () => {
    const binary = Uint8Array.from({ length: 256 }, (_, index) => index);
    const textVersion = await createSecret('app/config', 'listen: 8080\n');
    const binaryVersion = await createSecret('tls-keystore', binary);
    const { provider, clients } = irsa();
    const result = await fetchFiles(provider, attributes('- objectName: app/config\n- objectName: tls-keystore\n  filePermission: "0400"'));
    const files = filesOf(result);
    expect(Object.keys(files)).toEqual(['app_config', 'tls-keystore']);
    expect(files.app_config?.text).toBe('listen: 8080\n');
    expect(files.app_config?.mode).toBeUndefined();
    expect(files['tls-keystore']?.bytes.equals(Buffer.from(binary))).toBe(true);
    expect(files['tls-keystore']?.mode).toBe(0o400);
    expect(result.versions).toEqual({ app_config: textVersion, 'tls-keystore': binaryVersion });
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(1);
  });

  it('extracts fields of a JSON secret with jmesPath, next to the whole secret', async () => {
    await createSecret(
      'db',
      JSON.stringify({ username: 'app', password: 's3cr3t', 'db-host': 'db.internal', replicas: [{ host: 'r0' }, { host: 'r1' }], port: 5432 }),
    );
    const { provider } = irsa();
    const result = await fetchFiles(
      provider,
      attributes(`
        - objectName: db
          objectAlias: db.json
          filePermission: "0440"
          jmesPath:
            - path: username
              objectAlias: db-user
            - path: password
              objectAlias: db-password
              filePermission: "0400"
            - path: '"db-host"'
              objectAlias: db-host
            - path: replicas[-1].host
              objectAlias: last-replica
            - path: port
              objectAlias: db-port
      `),
    );
    const files = filesOf(result);
    expect(Object.keys(files)).toEqual(['db.json', 'db-user', 'db-password', 'db-host', 'last-replica', 'db-port']);
    expect(JSON.parse(files['db.json']?.text ?? '')).toMatchObject({ username: 'app' });
    expect(files['db-user']).toMatchObject({ text: 'app', mode: 0o440 });
    expect(files['db-password']).toMatchObject({ text: 's3cr3t', mode: 0o400 });
    expect(files['db-host']?.text).toBe('db.internal');
    expect(files['last-replica']?.text).toBe('r1');
    expect(files['db-port']?.text).toBe('5432');
  });

  it('reads a pinned VersionId and the AWSPREVIOUS stage after an update', async () => {
    const first = await createSecret('api-key', 'key-v1');
    const second = await updateSecret('api-key', 'key-v2');
    expect(second).not.toBe(first);
    const { provider } = irsa();
    const result = await fetchFiles(
      provider,
      attributes(`
        - objectName: api-key
        - objectName: api-key
          objectAlias: previous
          objectVersionLabel: AWSPREVIOUS
        - objectName: api-key
          objectAlias: pinned
          objectVersion: ${first}
      `),
    );
    const files = filesOf(result);
    expect(files['api-key']?.text).toBe('key-v2');
    expect(files.previous?.text).toBe('key-v1');
    expect(files.pinned?.text).toBe('key-v1');
    expect(result.versions).toEqual({ 'api-key': second, previous: first, pinned: first });
  });

  it('accepts a full ARN as objectName', async () => {
    const { ARN } = await moto.secretsManager().send(new CreateSecretCommand({ Name: 'by-arn', SecretString: 'via arn' }));
    const { provider } = irsa();
    const files = filesOf(await fetchFiles(provider, attributes(`- objectName: ${ARN ?? ''}\n  objectAlias: by-arn`)));
    expect(files['by-arn']?.text).toBe('via arn');
  });

  it('fails the whole volume when one secret is missing, naming it and no value', async () => {
    await createSecret('present', 'present-value');
    const { provider } = irsa();
    const error = await expectKeymountError(
      () => fetchVolume(provider, attributes('- objectName: present\n- objectName: absent')),
      'FAILED_PRECONDITION',
    );
    expect(error.message).toContain('secret "absent" was not found in Secrets Manager in us-east-1');
    expect(error.message).not.toContain('present-value');
  });

  it('reports a jmesPath that matches nothing, and a value that is not JSON, without the value', async () => {
    await createSecret('plain', 'not-json-at-all');
    await createSecret('json', '{"a":"value-a"}');
    const { provider } = irsa();
    const notJson = await expectKeymountError(
      () => fetchVolume(provider, attributes('- objectName: plain\n  jmesPath:\n    - path: a\n      objectAlias: a')),
      'FAILED_PRECONDITION',
    );
    expect(notJson.message).toContain('secret "plain"');
    expect(notJson.message).toContain('not JSON');
    expect(notJson.message).not.toContain('not-json-at-all');
    const nothing = await expectKeymountError(
      () => fetchVolume(provider, attributes('- objectName: json\n  jmesPath:\n    - path: b\n      objectAlias: b')),
      'FAILED_PRECONDITION',
    );
    expect(nothing.message).toContain('jmesPath "b" matches nothing');
    expect(nothing.message).not.toContain('value-a');
  });
});

describe('aws provider against moto: SSM Parameter Store', () => {
  it('reads String, SecureString (decrypted) and StringList parameters with their versions', async () => {
    await putParameter('/app/mode', 'production');
    await putParameter('/app/db-password', 'hunter2', 'SecureString');
    await putParameter('/app/hosts', 'a.example,b.example', 'StringList');
    const { provider } = irsa();
    const result = await fetchFiles(
      provider,
      attributes(`
        - {objectName: /app/mode, objectType: ssmparameter}
        - {objectName: /app/db-password, objectType: ssmparameter, objectAlias: db-password}
        - {objectName: /app/hosts, objectType: ssmparameter, objectAlias: hosts}
      `),
    );
    const files = filesOf(result);
    expect(files._app_mode?.text).toBe('production');
    expect(files['db-password']?.text).toBe('hunter2');
    expect(files.hosts?.text).toBe('a.example,b.example');
    expect(result.versions).toEqual({ _app_mode: '1', 'db-password': '1', hosts: '1' });
  });

  it('reads a pinned version and a label', async () => {
    await putParameter('flag', 'one');
    await putParameter('flag', 'two');
    await moto.ssm().send(new LabelParameterVersionCommand({ Name: 'flag', ParameterVersion: 1, Labels: ['stable'] }));
    await putParameter('flag', 'three');
    const { provider } = irsa();
    const result = await fetchFiles(
      provider,
      attributes(`
        - {objectName: flag, objectType: ssmparameter}
        - {objectName: flag, objectType: ssmparameter, objectVersion: "2", objectAlias: v2}
        - {objectName: flag, objectType: ssmparameter, objectVersionLabel: stable, objectAlias: stable}
      `),
    );
    const files = filesOf(result);
    expect([files.flag?.text, files.v2?.text, files.stable?.text]).toEqual(['three', 'two', 'one']);
    expect(result.versions).toEqual({ flag: '3', v2: '2', stable: '1' });
  });

  it('fetches parameters in batches of ten', async () => {
    const names = Array.from({ length: 12 }, (_, index) => `p${index}`);
    for (const name of names) await putParameter(name, `value-${name}`);
    const { provider, clients } = irsa();
    const objects = names.map((name) => `- {objectName: ${name}, objectType: ssmparameter}`).join('\n');
    const files = filesOf(await fetchFiles(provider, attributes(objects)));
    expect(Object.keys(files)).toEqual(names);
    expect(names.map((name) => files[name]?.text)).toEqual(names.map((name) => `value-${name}`));
    expect(clients.count('GetParametersCommand')).toBe(2);
  });

  it('fails the whole volume when a parameter is missing, naming it', async () => {
    await putParameter('here', 'here-value');
    const { provider } = irsa();
    const error = await expectKeymountError(
      () => fetchVolume(provider, attributes('- {objectName: here, objectType: ssmparameter}\n- {objectName: gone, objectType: ssmparameter}')),
      'FAILED_PRECONDITION',
    );
    expect(error.message).toContain('parameter "gone" not found in SSM Parameter Store in us-east-1');
    expect(error.message).not.toContain('here-value');
  });
});

describe('aws provider against moto: identity', () => {
  it('refuses a pod without a token for the audience, before calling AWS', async () => {
    await createSecret('s', 'v');
    const { provider, clients } = irsa();
    const error = await expectKeymountError(() => fetchVolume(provider, attributes('- objectName: s'), { jwt: null }), 'FAILED_PRECONDITION');
    expect(error.message).toContain('"sts.amazonaws.com"');
    expect(error.message).toContain('tokenRequests');
    expect(clients.calls.size).toBe(0);
  });

  it('refuses a token that is not a JWT', async () => {
    const { provider } = irsa();
    const error = await expectKeymountError(() => fetchVolume(provider, attributes('- objectName: s'), { jwt: 'opaque' }), 'INVALID_ARGUMENT');
    expect(error.message).toContain('not a JWT');
    expect(error.message).not.toContain('opaque');
  });

  it('caches STS credentials per role and token until shortly before they expire', async () => {
    await createSecret('s', 'v');
    const { provider, clients, clock } = irsa();
    const web = podToken('system:serviceaccount:shop:web', 'one');
    await fetchFiles(provider, attributes('- objectName: s'), { jwt: web });
    await fetchFiles(provider, attributes('- objectName: s'), { jwt: web });
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(1);
    // Another pod's identity never reuses them.
    await fetchFiles(provider, attributes('- objectName: s'), { jwt: podToken('system:serviceaccount:bank:api', 'two') });
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(2);
    // Nor does another role.
    await fetchFiles(provider, { ...attributes('- objectName: s'), roleArn: 'arn:aws:iam::123456789012:role/other' }, { jwt: web });
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(3);
    // moto's credentials last an hour; keymount renews them five minutes early.
    clock.advance(54 * 60_000);
    await fetchFiles(provider, attributes('- objectName: s'), { jwt: web });
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(3);
    clock.advance(2 * 60_000);
    await fetchFiles(provider, attributes('- objectName: s'), { jwt: web });
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(4);
  });

  it("maps AWS's access denied for the pod's role to PERMISSION_DENIED", async () => {
    await createSecret('payments', 'card-data');
    await putParameter('allowed', 'fine');
    const roleArn = await moto.createRole('ssm-only', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'ssm:GetParameters', Resource: '*' }],
    });
    const { provider } = irsa();
    // The next call (STS, which moto cannot check unsigned) passes; every call after it needs IAM permission.
    await moto.enforceIamAfter(1);
    try {
      const error = await expectKeymountError(
        () => fetchVolume(provider, { roleArn, objects: '- objectName: payments' }, { jwt: podToken(undefined, 'denied') }),
        'PERMISSION_DENIED',
      );
      expect(error.message).toContain('secret "payments"');
      expect(error.message).toContain('secretsmanager:GetSecretValue');
      expect(error.message).not.toContain('card-data');
      // The same role reads what its policy allows (STS again: a refusal drops the cached credentials).
      await moto.enforceIamAfter(1);
      const files = filesOf(
        await fetchFiles(provider, { roleArn, objects: '- {objectName: allowed, objectType: ssmparameter}' }, { jwt: podToken(undefined, 'denied') }),
      );
      expect(files.allowed?.text).toBe('fine');
    } finally {
      await moto.enforceIamAfter(Number.POSITIVE_INFINITY);
    }
  });

  it("uses the node's credentials without any token when the instance says so", async () => {
    await createSecret('node-secret', 'from the node');
    const clients = new CountingClients({ nodeCredentials: MOTO_CREDENTIALS });
    const { provider } = createAws({ region: 'us-east-1', endpoint: moto.endpoint, auth: { type: 'node', sharedIdentity: { acknowledged: true, allow: { secretsmanager: ['node-*'] } } } }, { clients });
    const files = filesOf(await fetchFiles(provider, { objects: '- objectName: node-secret' }, { jwt: null }));
    expect(files['node-secret']?.text).toBe('from the node');
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(0);
  });
});

describe('aws provider against moto: refreshes', () => {
  it('answers UNCHANGED from metadata when every version is the one the volume has, and refetches after a change', async () => {
    await createSecret('rotating', 'first');
    await putParameter('param', 'p1', 'SecureString');
    const { provider, clients } = irsa();
    const objects = attributes('- objectName: rotating\n- {objectName: param, objectType: ssmparameter}');
    const first = await fetchFiles(provider, objects);
    expect(clients.count('GetSecretValueCommand')).toBe(1);

    const again = await fetchVolume(provider, objects, { previousVersions: first.versions });
    expect(isUnchanged(again)).toBe(true);
    expect(clients.count('GetSecretValueCommand')).toBe(1);
    expect(clients.count('DescribeSecretCommand')).toBe(1);

    const rotated = await updateSecret('rotating', 'second');
    const after = await fetchFiles(provider, objects, { previousVersions: first.versions });
    expect(filesOf(after).rotating?.text).toBe('second');
    expect(after.versions).toEqual({ rotating: rotated, param: '1' });

    await putParameter('param', 'p2', 'SecureString');
    const afterParameter = await fetchFiles(provider, objects, { previousVersions: after.versions });
    expect(filesOf(afterParameter).param?.text).toBe('p2');
    expect(afterParameter.versions.param).toBe('2');
  });

  it('refetches (and reports the failure) when the version check itself fails', async () => {
    await createSecret('vanishing', 'v');
    const { provider } = irsa();
    const first = await fetchFiles(provider, attributes('- objectName: vanishing'));
    await moto.reset();
    const error = await expectKeymountError(
      () => fetchVolume(provider, attributes('- objectName: vanishing'), { previousVersions: first.versions }),
      'FAILED_PRECONDITION',
    );
    expect(error.message).toContain('secret "vanishing" was not found');
  });
});

describe('aws provider against moto: failover region', () => {
  const objects = `
    - objectName: db
      objectAlias: db
      failoverObject:
        objectName: db-replica
  `;

  it('reads from the failover region when the primary region does not answer', async () => {
    await createSecret('db-replica', 'from us-west-2', 'us-west-2');
    // us-east-1 points at a closed port: a real connection failure.
    const clients = new CountingClients({
      endpointFor: (options) => (options.region === 'us-east-1' ? 'http://127.0.0.1:9' : moto.endpoint),
    });
    const { provider } = createAws({ region: 'us-east-1', endpoint: moto.endpoint, failoverRegion: 'us-west-2' }, { clients });
    const result = await fetchFiles(provider, attributes(objects));
    expect(filesOf(result).db?.text).toBe('from us-west-2');
    expect(clients.regions).toContain('us-west-2');
  });

  it('does not hide a missing object in the primary region behind the failover', async () => {
    await createSecret('db-replica', 'from us-west-2', 'us-west-2');
    const { provider } = createAws(
      { region: 'us-east-1', endpoint: moto.endpoint, failoverRegion: 'us-west-2' },
      { clients: new CountingClients(), retry: FAST_RETRY },
    );
    const error = await expectKeymountError(() => fetchVolume(provider, attributes(objects)), 'FAILED_PRECONDITION');
    expect(error.message).toContain('secret "db" was not found in Secrets Manager in us-east-1');
  });

  it('gives up with UNAVAILABLE when neither region answers', async () => {
    const clients = new CountingClients({ endpointFor: () => 'http://127.0.0.1:9' });
    const { provider } = createAws({ region: 'us-east-1', endpoint: moto.endpoint, failoverRegion: 'us-west-2' }, { clients });
    const error = await expectKeymountError(() => fetchVolume(provider, attributes(objects)), 'UNAVAILABLE');
    expect(error.message).toContain('STS in us-west-2 did not answer');
    expect(clients.count('AssumeRoleWithWebIdentityCommand')).toBe(2 * FAST_RETRY.attempts);
  });
});
