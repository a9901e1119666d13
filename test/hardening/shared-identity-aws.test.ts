/**
 * Issue #11, class 5: an aws instance with auth.type node reads with the
 * driver's own AWS credentials for every pod. It must be acknowledged by the
 * admin with an allow-list, and a pod asking for anything outside the list is
 * refused before any AWS call: moto's request recorder (/moto-api/recorder)
 * shows what really reached the emulator.
 */
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeymountError } from '../../src/provider/contract.js';
import { MOTO_CREDENTIALS, MOTO_START_TIMEOUT_MS, startMoto, type MotoServer } from '../helpers/moto.js';
import { CountingClients, createAws, fetchFiles, filesOf } from '../providers/aws/helpers.js';

let moto: MotoServer;
let privateArn: string;

const ALLOW = { secretsmanager: ['shared/*'], ssmparameter: ['/shared/*'] };

beforeAll(async () => {
  moto = await startMoto();
  const secrets = moto.secretsManager();
  await secrets.send(new CreateSecretCommand({ Name: 'shared/db', SecretString: 'shared-pass' }));
  privateArn = (await secrets.send(new CreateSecretCommand({ Name: 'private/admin', SecretString: 'admin-pass' }))).ARN ?? '';
  await moto.ssm().send(new PutParameterCommand({ Name: '/shared/url', Value: 'https://shared', Type: 'String' }));
  await moto.ssm().send(new PutParameterCommand({ Name: '/private/key', Value: 'private-key', Type: 'SecureString' }));
}, MOTO_START_TIMEOUT_MS);

afterAll(async () => {
  await moto?.stop();
});

function nodeInstance(sharedIdentity: unknown = { acknowledged: true, allow: ALLOW }) {
  const clients = new CountingClients({ nodeCredentials: MOTO_CREDENTIALS });
  return createAws({ region: 'us-east-1', endpoint: moto.endpoint, auth: { type: 'node', sharedIdentity } }, { clients });
}

function startupError(auth: Record<string, unknown>): string {
  try {
    createAws({ region: 'us-east-1', endpoint: moto.endpoint, auth });
  } catch (error) {
    return (error as Error).message;
  }
  return 'started';
}

describe('start-up', () => {
  it('refuses auth.type node without the acknowledgement and an allow-list, naming the instance and setting', () => {
    const bare = startupError({ type: 'node' });
    expect(bare).toContain('aws instance "aws-test": invalid settings');
    expect(bare).toContain('auth.sharedIdentity');
    expect(bare).toContain("driver's own AWS credentials");
    expect(startupError({ type: 'node', sharedIdentity: { acknowledged: false, allow: ALLOW } })).toContain('auth.sharedIdentity');
    expect(startupError({ type: 'node', sharedIdentity: { acknowledged: true } })).toContain('auth.sharedIdentity.allow');
    expect(startupError({ type: 'node', sharedIdentity: { acknowledged: true, allow: {} } })).toContain('must list at least one');
    expect(startupError({ type: 'node', sharedIdentity: { acknowledged: true, allow: { secrets: ['x'] } } })).toContain('auth.sharedIdentity.allow');
    expect(startupError({ type: 'irsa', sharedIdentity: { acknowledged: true, allow: ALLOW } })).toContain('unknown setting "auth.sharedIdentity"');
  });
});

describe('a pod of a node-auth instance', () => {
  const outside: [string, string][] = [
    ['a secret outside the list', '- objectName: private/admin\n  objectAlias: loot'],
    ['its ARN', '- objectName: "ARN"\n  objectAlias: loot'],
    ['a parameter outside the list', '- {objectName: /private/key, objectType: ssmparameter, objectAlias: loot}'],
    ['a name that only starts like the list', '- objectName: sharedX/db\n  objectAlias: loot'],
    ['a secret name in the parameter list', '- {objectName: /shared/url, objectType: secretsmanager, objectAlias: loot}'],
    ['one allowed and one not', '- objectName: shared/db\n- objectName: private/admin\n  objectAlias: loot'],
  ];

  it.each(outside)('gets PERMISSION_DENIED for %s, and moto sees no call', async (_name, objectsYaml) => {
    const { provider } = nodeInstance();
    await moto.startRecording();
    let error: unknown;
    try {
      await fetchFiles(provider, { objects: objectsYaml.replace('ARN', privateArn) }, { jwt: null });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(KeymountError);
    const refusal = error as KeymountError;
    expect(refusal.code).toBe('PERMISSION_DENIED');
    expect(refusal.message).toContain('provider instance "aws-test"');
    expect(refusal.message).toMatch(/auth\.sharedIdentity\.allow\.(secretsmanager|ssmparameter)/);
    expect(await moto.recordedCalls()).toEqual([]);
    await provider.close();
  });

  it('reads what the list allows, and only that reaches moto', async () => {
    const { provider } = nodeInstance();
    await moto.startRecording();
    const files = filesOf(
      await fetchFiles(provider, { objects: '- objectName: shared/db\n  objectAlias: db\n- {objectName: /shared/url, objectType: ssmparameter, objectAlias: url}' }, { jwt: null }),
    );
    expect(files.db?.text).toBe('shared-pass');
    expect(files.url?.text).toBe('https://shared');
    const calls = await moto.recordedCalls();
    // The two objects are fetched concurrently: compare in a fixed order.
    expect([...calls].sort((a, b) => a.action.localeCompare(b.action))).toEqual([
      { action: 'AmazonSSM.GetParameters', body: { Names: ['/shared/url'], WithDecryption: true } },
      { action: 'secretsmanager.GetSecretValue', body: { SecretId: 'shared/db' } },
    ]);
    await provider.close();
  });
});
