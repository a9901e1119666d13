/**
 * The whole path, as in a cluster: the kubelet's NodePublishVolume with the
 * pod's service-account token → the real driver → STS
 * AssumeRoleWithWebIdentity → GetSecretValue / GetParameters on moto → files
 * on a real tmpfs, checked by bytes and modes.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callError, startHarness, type Harness } from '../../helpers/driver-harness.js';
import type { PodVolume } from '../../helpers/kubelet.js';
import { MOTO_CREDENTIALS, MOTO_START_TIMEOUT_MS, startMoto, type MotoServer } from '../../helpers/moto.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join, mountsUnder, modeOf, visibleFiles } from '../../helpers/system.js';
import { AUDIENCE, ROLE_ARN, podToken } from './helpers.js';

const BINARY = Buffer.from(Array.from({ length: 512 }, (_, index) => (index * 7) % 256));
const TOKENS = { [AUDIENCE]: podToken() };

async function seed(moto: MotoServer): Promise<{ previousVersion: string; currentVersion: string }> {
  const secrets = moto.secretsManager();
  const created = await secrets.send(new CreateSecretCommand({ Name: 'shop/api-key', SecretString: 'key-v1' }));
  const updated = await secrets.send(new PutSecretValueCommand({ SecretId: 'shop/api-key', SecretString: 'key-v2' }));
  await secrets.send(new CreateSecretCommand({ Name: 'shop/keystore', SecretBinary: BINARY }));
  await secrets.send(new CreateSecretCommand({ Name: 'shop/db', SecretString: JSON.stringify({ username: 'shop', password: 'pw-1' }) }));
  const ssm = moto.ssm();
  await ssm.send(new PutParameterCommand({ Name: '/shop/mode', Value: 'production', Type: 'String' }));
  await ssm.send(new PutParameterCommand({ Name: '/shop/token', Value: 'ssm-secure', Type: 'SecureString' }));
  await ssm.send(new PutParameterCommand({ Name: '/shop/hosts', Value: 'a,b,c', Type: 'StringList' }));
  return { previousVersion: created.VersionId ?? '', currentVersion: updated.VersionId ?? '' };
}

function awsInstance(moto: MotoServer, extra: Record<string, unknown> = {}): { type: string; settings: Record<string, unknown> } {
  return { type: 'aws', settings: { region: 'us-east-1', endpoint: moto.endpoint, ...extra } };
}

/** After a refused publish: no target directory and no mount anywhere in the pod's directory. */
function expectNothingLeft(harness: Harness, volume: PodVolume): void {
  expect(exists(volume.targetPath)).toBe(false);
  expect(mountsUnder(join(harness.kubeletRoot, 'pods', volume.podUid))).toEqual([]);
}

describe.skipIf(!IS_ROOT)(`aws volumes against moto (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let moto: MotoServer;
  let harness: Harness;
  let versions: { previousVersion: string; currentVersion: string };

  beforeAll(async () => {
    moto = await startMoto();
    versions = await seed(moto);
    // Node auth reads the driver's own credentials through the SDK's default chain (environment variables here).
    vi.stubEnv('AWS_ACCESS_KEY_ID', MOTO_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', MOTO_CREDENTIALS.secretAccessKey);
    harness = await startHarness({
      providers: { aws: awsInstance(moto), 'aws-node': awsInstance(moto, { auth: { type: 'node', sharedIdentity: { acknowledged: true, allow: { secretsmanager: ['shop/*'] } } } }) },
    });
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    vi.unstubAllEnvs();
    await harness.stop();
    await moto.stop();
  });

  it('mounts secrets and parameters read with the pod role, byte for byte, with their modes', async () => {
    const volume = harness.newVolume('aws');
    await harness.publish(
      volume,
      {
        provider: 'aws',
        roleArn: ROLE_ARN,
        objects: `
          - objectName: shop/api-key
            objectAlias: api-key
          - objectName: shop/api-key
            objectAlias: api-key.previous
            objectVersionLabel: AWSPREVIOUS
          - objectName: shop/api-key
            objectAlias: api-key.pinned
            objectVersion: ${versions.previousVersion}
          - objectName: shop/keystore
            filePermission: "0400"
          - objectName: shop/db
            jmesPath:
              - path: username
                objectAlias: db-user
              - path: password
                objectAlias: db-password
                filePermission: "0400"
          - objectName: /shop/mode
            objectType: ssmparameter
          - objectName: /shop/token
            objectType: ssmparameter
            objectAlias: ssm-token
          - objectName: /shop/hosts
            objectType: ssmparameter
            objectAlias: hosts
        `,
      },
      { tokens: TOKENS, mountGroup: '2000' },
    );
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    expect(visibleFiles(volume.targetPath)).toEqual([
      '_shop_mode',
      'api-key',
      'api-key.pinned',
      'api-key.previous',
      'db-password',
      'db-user',
      'hosts',
      'shop_db',
      'shop_keystore',
      'ssm-token',
    ]);
    const read = (name: string): string => readFileSync(join(volume.targetPath, name), 'utf8');
    expect(read('api-key')).toBe('key-v2');
    expect(read('api-key.previous')).toBe('key-v1');
    expect(read('api-key.pinned')).toBe('key-v1');
    expect(readFileSync(join(volume.targetPath, 'shop_keystore')).equals(BINARY)).toBe(true);
    expect(JSON.parse(read('shop_db'))).toEqual({ username: 'shop', password: 'pw-1' });
    expect(read('db-user')).toBe('shop');
    expect(read('db-password')).toBe('pw-1');
    expect(read('_shop_mode')).toBe('production');
    expect(read('ssm-token')).toBe('ssm-secure');
    expect(read('hosts')).toBe('a,b,c');
    expect(modeOf(join(volume.targetPath, 'shop_keystore'))).toBe(0o400);
    expect(modeOf(join(volume.targetPath, 'db-password'))).toBe(0o400);
    expect(modeOf(join(volume.targetPath, 'api-key'))).toBe(0o440);
    expect(statSync(join(volume.targetPath, 'api-key')).gid).toBe(2000);
    // The versions are recorded for refreshes; the record never holds a value.
    const record = readdirSync(join(harness.stateDir, 'volumes'))
      .map((name) => readFileSync(join(harness.stateDir, 'volumes', name), 'utf8'))
      .find((text) => text.includes(volume.volumeId));
    expect(record).toContain(versions.currentVersion);
    for (const value of ['key-v2', 'pw-1', 'ssm-secure', TOKENS[AUDIENCE]]) expect(record).not.toContain(value);
    await harness.unpublish(volume);
    expect(exists(volume.targetPath)).toBe(false);
  });

  it('never logs the pod token or a secret value', () => {
    const log = harness.logLines.join('\n');
    expect(log).toContain('aws: fetched objects');
    for (const value of ['key-v2', 'pw-1', 'ssm-secure', TOKENS[AUDIENCE]]) expect(log).not.toContain(value);
  });

  it("reads with the driver's own credentials on a node-auth instance, without a token", async () => {
    const volume = harness.newVolume();
    await harness.publish(volume, { provider: 'aws-node', objects: '- objectName: shop/api-key' });
    expect(readFileSync(join(volume.targetPath, 'shop_api-key'), 'utf8')).toBe('key-v2');
    await harness.unpublish(volume);
  });

  it('refuses a pod whose CSIDriver sends no token for the audience, with FAILED_PRECONDITION', async () => {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'aws', roleArn: ROLE_ARN, objects: '- objectName: shop/api-key' }));
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toContain('tokenRequests');
    expect(failure.details).toContain(AUDIENCE);
    expectNothingLeft(harness, volume);
  });

  it('fails the whole volume when one object is missing: nothing written, no mount left', async () => {
    const volume = harness.newVolume();
    const failure = await callError(
      harness.publish(
        volume,
        { provider: 'aws', roleArn: ROLE_ARN, objects: '- objectName: shop/api-key\n- objectName: shop/missing' },
        { tokens: TOKENS },
      ),
    );
    expect(failure.code).toBe(status.FAILED_PRECONDITION);
    expect(failure.details).toContain('secret "shop/missing" was not found');
    expect(failure.details).not.toContain('key-v2');
    expectNothingLeft(harness, volume);
  });

  it.each([
    ['malformed YAML', '- objectName: [shop/api-key', 'attribute "objects" is not valid YAML'],
    ['an unknown field', '- objectName: shop/api-key\n  objectAliass: x', 'objects[0]: unknown field "objectAliass"'],
    ['duplicate aliases', '- objectName: shop/api-key\n  objectAlias: key\n- objectName: shop/db\n  objectAlias: key', 'both be written to "key"'],
    ['an alias with ../', "- objectName: shop/api-key\n  objectAlias: '../../etc/passwd'", 'objects[0].objectAlias'],
  ])('refuses %s with INVALID_ARGUMENT before mounting', async (_, objects, expected) => {
    const volume = harness.newVolume();
    const failure = await callError(harness.publish(volume, { provider: 'aws', roleArn: ROLE_ARN, objects }, { tokens: TOKENS }));
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toContain(expected);
    expectNothingLeft(harness, volume);
  });

  it('also refuses an alias with ../ when pathTranslation is off', async () => {
    const volume = harness.newVolume();
    const failure = await callError(
      harness.publish(
        volume,
        { provider: 'aws', roleArn: ROLE_ARN, pathTranslation: 'False', objects: "- objectName: shop/api-key\n  objectAlias: '../escape'" },
        { tokens: TOKENS },
      ),
    );
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toContain('"../escape" contains a ".." element');
    expectNothingLeft(harness, volume);
  });
});

describe.skipIf(!IS_ROOT)(`aws volumes when moto stops (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let moto: MotoServer;
  let harness: Harness;

  beforeAll(async () => {
    moto = await startMoto();
    await moto.secretsManager().send(new CreateSecretCommand({ Name: 'fleeting', SecretString: 'here-then-gone' }));
    harness = await startHarness({ providers: { aws: awsInstance(moto) }, flags: { 'provider-timeout': '20s' } });
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    await harness.stop();
    await moto.stop();
  });

  it('answers UNAVAILABLE, writes nothing and leaves no mount once AWS is gone', async () => {
    const attributes = { provider: 'aws', roleArn: ROLE_ARN, objects: '- objectName: fleeting' };
    const first = harness.newVolume();
    await harness.publish(first, attributes, { tokens: TOKENS });
    expect(readFileSync(join(first.targetPath, 'fleeting'), 'utf8')).toBe('here-then-gone');

    // The STS credentials are cached, so the next publish goes straight to a Secrets Manager that no longer answers.
    await moto.stop();
    const second = harness.newVolume();
    const failure = await callError(harness.publish(second, attributes, { tokens: TOKENS }));
    expect(failure.code).toBe(status.UNAVAILABLE);
    expect(failure.details).toContain('Secrets Manager in us-east-1 did not answer for secret "fleeting"');
    expectNothingLeft(harness, second);
    // The volume published before is untouched.
    expect(visibleFiles(first.targetPath)).toEqual(['fleeting']);
    await harness.unpublish(first);
  });
});
