/**
 * The aws attributes, checked before anything is mounted: what a pasted
 * SecretProviderClass `objects` list turns into, and every refusal naming
 * the attribute and field to fix.
 */
import { describe, expect, it } from 'vitest';
import type { AwsAttributes } from '../../../providers/aws/index.js';
import { POD, ROLE_ARN, createAws, expectKeymountError } from './helpers.js';

const SETTINGS = { region: 'us-east-1' };

function parse(attributes: Record<string, string>, settings: Record<string, unknown> = SETTINGS): AwsAttributes {
  return createAws(settings).provider.parseAttributes({ roleArn: ROLE_ARN, ...attributes }, POD);
}

async function refused(attributes: Record<string, string>, settings: Record<string, unknown> = SETTINGS): Promise<string> {
  const error = await expectKeymountError(() => parse(attributes, settings), 'INVALID_ARGUMENT');
  return error.message;
}

describe('aws attributes: objects as in a SecretProviderClass', () => {
  it('takes the YAML a SecretProviderClass holds, unchanged', () => {
    const parsed = parse({
      objects: `
        - objectName: "MySecret"
          objectType: "secretsmanager"
          jmesPath:
              - path: "username"
                objectAlias: "MySecretUsername"
              - path: '"hyphenated-key"'
                objectAlias: "hyphenated"
                filePermission: "0400"
        - objectName: "/prod/db/password"
          objectType: "ssmparameter"
          objectVersion: "3"
          filePermission: "0640"
      `,
    });
    expect(parsed.region).toBe('us-east-1');
    expect(parsed.roleArn).toBe(ROLE_ARN);
    expect(parsed.objects).toHaveLength(2);
    const [secret, parameter] = parsed.objects;
    expect(secret).toMatchObject({ type: 'secretsmanager', name: 'MySecret', file: 'MySecret', mode: undefined });
    expect(secret?.extracts.map(({ file, mode, expression }) => ({ file, mode, expression }))).toEqual([
      { file: 'MySecretUsername', mode: undefined, expression: 'username' },
      { file: 'hyphenated', mode: 0o400, expression: '"hyphenated-key"' },
    ]);
    // "/" becomes "_" (pathTranslation's default), and the version stays the string written.
    expect(parameter).toMatchObject({ type: 'ssmparameter', name: '/prod/db/password', file: '_prod_db_password', version: '3', mode: 0o640 });
  });

  it('defaults objectType to secretsmanager, or to the service of an ARN', () => {
    const parsed = parse({
      objects: `
        - objectName: plain
        - objectName: arn:aws:ssm:us-east-1:123456789012:parameter/app/flag
          objectAlias: flag
        - objectName: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf
          objectAlias: db
      `,
    });
    expect(parsed.objects.map((object) => object.type)).toEqual(['secretsmanager', 'ssmparameter', 'secretsmanager']);
  });

  it('names an ARN file after the ARN, translated, when no alias is given', () => {
    const parsed = parse({ objects: '- objectName: arn:aws:ssm:us-east-1:123456789012:parameter/app/flag' });
    expect(parsed.objects[0]?.file).toBe('arn:aws:ssm:us-east-1:123456789012:parameter_app_flag');
  });

  it('translates "/" with pathTranslation, or keeps subdirectories with "False"', () => {
    const objects = '- objectName: team/app/key\n- objectName: /abs/name';
    expect(parse({ objects, pathTranslation: '-' }).objects.map((object) => object.file)).toEqual(['team-app-key', '-abs-name']);
    expect(parse({ objects, pathTranslation: 'False' }).objects.map((object) => object.file)).toEqual(['team/app/key', 'abs/name']);
  });

  it('treats empty optional fields as absent, as the AWS provider does', () => {
    const parsed = parse({ objects: '- objectName: s\n  objectAlias: ""\n  objectVersionLabel: ""' });
    expect(parsed.objects[0]).toMatchObject({ file: 's', versionLabel: undefined });
  });

  it('accepts a region attribute equal to the instance region, as a pasted SecretProviderClass has', () => {
    expect(parse({ objects: '- objectName: s', region: 'us-east-1' }).region).toBe('us-east-1');
  });

  it('lets pods pick a region only when the instance allows it', async () => {
    const message = await refused({ objects: '- objectName: s', region: 'eu-west-1' });
    expect(message).toContain('attribute "region"');
    expect(message).toContain('allowRegionOverride');
    const allowed = { ...SETTINGS, allowRegionOverride: true, failoverRegion: 'eu-west-1' };
    const parsed = parse({ objects: '- objectName: s', region: 'eu-west-1' }, allowed);
    expect(parsed.region).toBe('eu-west-1');
    // The failover region is no failover when it is the region itself.
    expect(parsed.failoverRegion).toBeUndefined();
    expect(await refused({ objects: '- objectName: s', region: 'mars' }, allowed)).toContain('"mars" is not an AWS region');
  });
});

describe('aws attributes: refusals name what to fix', () => {
  it.each([
    ['', 'attribute "objects" is required'],
    ['objectName: s', 'must be a YAML list'],
    ['- objectName: [unclosed', 'is not valid YAML'],
    ['- objectName: a\n  objectName: b', 'is not valid YAML'],
    ['[]', 'must list at least one object'],
    ['- objectAlias: a', 'objects[0].objectName: is required'],
    ['- objectName: s\n  objectname: t', 'objects[0]: unknown field "objectname"'],
    ['- objectName: s\n- objectName: t\n  jmesPath:\n    - path: a\n      objectalias: b', 'objects[1].jmesPath[0]: unknown field "objectalias"'],
    ['- objectName: s\n  jmesPath: user', 'objects[0].jmesPath: must be a list'],
    ['- objectName: s\n  jmesPath:\n    - path: a', 'objects[0].jmesPath[0].objectAlias: is required'],
    ['- objectName: s\n  objectType: ssm', 'objects[0].objectType: "ssm" is not "secretsmanager" or "ssmparameter"'],
    ['- objectName: s\n  filePermission: "0644x"', 'objects[0].filePermission: "0644x" is not an octal file mode'],
    ['- objectName: s\n  filePermission: "4755"', 'objects[0].filePermission'],
    ['- objectName: s\n  objectType: ssmparameter\n  objectVersion: "1"\n  objectVersionLabel: x', 'not both'],
    ['- objectName: s\n  objectType: ssmparameter\n  objectVersion: latest', '"latest" is not an SSM parameter version number'],
    ['- objectName: p:3\n  objectType: ssmparameter', 'objectVersion or objectVersionLabel'],
    ['- objectName: arn:aws:secretsmanager:eu-west-1:123456789012:secret:s\n  objectAlias: s', 'region eu-west-1 differs from the volume\'s region us-east-1'],
    ['- objectName: arn:aws:s3:us-east-1:123456789012:bucket\n  objectAlias: s', 'only secretsmanager and ssm ARNs'],
    ['- objectName: arn:aws:ssm:us-east-1:123456789012:parameter/p\n  objectType: secretsmanager', 'does not match the ARN'],
    ['- objectName: s\n  jmesPath:\n    - path: "items[?a == `1`]"\n      objectAlias: b', 'objects[0].jmesPath[0].path'],
    ['- objectName: s\n  jmesPath:\n    - path: "a.*"\n      objectAlias: b', 'expects a field name'],
  ])('objects %j → %s', async (objects, expected) => {
    const message = await refused({ objects });
    expect(message).toContain(expected);
  });

  it('refuses two objects that would be written to the same file', async () => {
    const message = await refused({ objects: '- objectName: a\n  objectAlias: same\n- objectName: b\n  objectAlias: same' });
    expect(message).toContain('two objects would both be written to "same"');
  });

  it('refuses a jmesPath file that collides with an object file', async () => {
    const message = await refused({ objects: '- objectName: a\n- objectName: b\n  jmesPath:\n    - path: x\n      objectAlias: a' });
    expect(message).toContain('"a"');
  });

  it('refuses the same name with translation and without alias (a_b and a/b)', async () => {
    expect(await refused({ objects: '- objectName: a_b\n- objectName: a/b' })).toContain('"a_b"');
  });

  it('refuses a file that another one needs as its directory', async () => {
    const message = await refused({ objects: '- objectName: a\n- objectName: a/b', pathTranslation: 'False' });
    expect(message).toContain('needs "a" as a directory');
  });

  it.each([
    ['../escape', 'False', '"../escape" contains a ".." element'],
    ['a/../../etc/passwd', 'False', 'contains a ".." element'],
    ['../escape', '_', '"../escape" becomes ".._escape", which has an element starting with ".."'],
    ['..data', '_', 'reserves'],
    ['dir//file', 'False', 'empty path element'],
    ['back\\slash', '_', 'backslash'],
    ['a/b/c/d/e/f/g/h/i', 'False', 'deeper than 8 levels'],
    ['x'.repeat(256), '_', 'longer than 255 bytes'],
  ])('refuses the alias %j (pathTranslation %s)', async (alias, pathTranslation, reason) => {
    const message = await refused({ objects: `- objectName: s\n  objectAlias: '${alias}'`, pathTranslation });
    expect(message).toContain('objects[0].objectAlias');
    expect(message).toContain(reason);
  });

  it('refuses an unsafe jmesPath alias', async () => {
    const message = await refused({ objects: "- objectName: s\n  jmesPath:\n    - path: a\n      objectAlias: '../x'", pathTranslation: 'False' });
    expect(message).toContain('objects[0].jmesPath[0].objectAlias');
  });

  it('bounds YAML aliases (no alias bombs)', async () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ].join('\n');
    expect(await refused({ objects: bomb })).toContain('is not valid YAML');
  });

  it('refuses a bad pathTranslation', async () => {
    expect(await refused({ objects: '- objectName: s', pathTranslation: '__' })).toContain('attribute "pathTranslation"');
    expect(await refused({ objects: '- objectName: s', pathTranslation: '/' })).toContain('attribute "pathTranslation"');
  });

  it('requires roleArn with IRSA and refuses it with node credentials', async () => {
    const provider = createAws(SETTINGS).provider;
    const missing = await expectKeymountError(() => provider.parseAttributes({ objects: '- objectName: s' }, POD), 'INVALID_ARGUMENT');
    expect(missing.message).toContain('attribute "roleArn" is required');
    expect(await refused({ objects: '- objectName: s', roleArn: 'shop-web' })).toContain('is not an IAM role ARN');
    const node = createAws({ ...SETTINGS, auth: { type: 'node', sharedIdentity: { acknowledged: true, allow: { secretsmanager: ['s'] } } } }).provider;
    const given = await expectKeymountError(() => node.parseAttributes({ objects: '- objectName: s', roleArn: ROLE_ARN }, POD), 'INVALID_ARGUMENT');
    expect(given.message).toContain("uses the node's credentials");
  });

  describe('failoverObject', () => {
    const withFailover = { ...SETTINGS, failoverRegion: 'us-west-2' };

    it('is parsed with its own name and label', () => {
      const parsed = parse(
        {
          objects: `
            - objectName: arn:aws:secretsmanager:us-east-1:123456789012:secret:Primary-abc
              objectAlias: db
              failoverObject:
                objectName: arn:aws:secretsmanager:us-west-2:123456789012:secret:Failover-def
                objectVersionLabel: AWSCURRENT
          `,
        },
        withFailover,
      );
      expect(parsed.failoverRegion).toBe('us-west-2');
      expect(parsed.objects[0]?.failover).toEqual({
        name: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:Failover-def',
        version: undefined,
        versionLabel: 'AWSCURRENT',
      });
    });

    it.each([
      ['- objectName: a\n  objectAlias: a\n  failoverObject:\n    objectName: b', SETTINGS, 'has no failoverRegion'],
      ['- objectName: a\n  failoverObject:\n    objectName: b', withFailover, 'objects[0].objectAlias: is required when failoverObject is set'],
      ['- objectName: a\n  objectAlias: a\n  objectVersion: v1\n  failoverObject:\n    objectName: b', withFailover, 'must be the same as the objectVersion'],
      [
        '- objectName: a\n  objectAlias: a\n  failoverObject:\n    objectName: arn:aws:secretsmanager:us-east-1:123456789012:secret:b',
        withFailover,
        "differs from the volume's failover region us-west-2",
      ],
    ])('refuses %j', async (objects, settings, expected) => {
      expect(await refused({ objects }, settings)).toContain(expected);
    });
  });
});
