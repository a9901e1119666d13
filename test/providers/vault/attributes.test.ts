/** Parsing a pod's `roleName` and `objects` (pure: no Vault involved). */
import { describe, expect, it } from 'vitest';
import { KeymountError } from '../../../src/provider/contract.js';
import { parseVaultAttributes } from '../../../providers/vault/attributes.js';
import { AllowedPaths } from '../../../providers/vault/path-policy.js';
import { MAX_OBJECTS } from '../../../providers/vault/objects.js';

const POD = { instanceName: 'vault', usesPodIdentity: true };

function parse(objectsText: string, extra: Record<string, string> = {}, context = POD) {
  return parseVaultAttributes({ roleName: 'app', objects: objectsText, ...extra }, context);
}

function invalid(objectsText: string, extra: Record<string, string> = {}, context = POD): string {
  try {
    parse(objectsText, extra, context);
  } catch (error) {
    expect(error).toBeInstanceOf(KeymountError);
    expect((error as KeymountError).code).toBe('INVALID_ARGUMENT');
    return (error as KeymountError).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('objects as pasted from a vault-csi-provider SecretProviderClass', () => {
  it('reads every field with its defaults', () => {
    const attributes = parse(`
- objectName: "db-password"
  secretPath: "database/creds/db-app"
  secretKey: "password"
- objectName: cert
  secretPath: /v1/pki/issue/web
  method: post
  secretKey: certificate
  secretArgs:
    common_name: web.example.com
    ttl: 24h
    alt_names: [a.example.com, b.example.com]
    exclude_cn_from_sans: true
  filePermission: 0600
- objectName: nested/raw.bin
  secretPath: secret/data/blob?version=3
  secretKey: data
  encoding: BASE64
`);
    expect(attributes.roleName).toBe('app');
    expect(attributes.objects).toEqual([
      { objectName: 'db-password', secretPath: 'database/creds/db-app', query: undefined, secretKey: 'password', method: 'GET', secretArgs: undefined, encoding: 'utf-8', filePermission: undefined },
      {
        objectName: 'cert',
        secretPath: 'pki/issue/web',
        query: undefined,
        secretKey: 'certificate',
        method: 'POST',
        secretArgs: { common_name: 'web.example.com', ttl: '24h', alt_names: ['a.example.com', 'b.example.com'], exclude_cn_from_sans: true },
        encoding: 'utf-8',
        filePermission: 0o600,
      },
      { objectName: 'nested/raw.bin', secretPath: 'secret/data/blob', query: 'version=3', secretKey: 'data', method: 'GET', secretArgs: undefined, encoding: 'base64', filePermission: undefined },
    ]);
  });

  it('reads filePermission as Go does: leading zero or 0o is octal, otherwise decimal', () => {
    const mode = (text: string) => parse(`- {objectName: a, secretPath: s/a, filePermission: ${text}}`).objects[0]?.filePermission;
    expect(mode('0600')).toBe(0o600);
    expect(mode('0o640')).toBe(0o640);
    expect(mode('"0440"')).toBe(0o440);
    expect(mode('384')).toBe(0o600);
    expect(mode('0')).toBeUndefined();
    expect(invalid('- {objectName: a, secretPath: s/a, filePermission: 644}')).toContain('1204');
    expect(invalid('- {objectName: a, secretPath: s/a, filePermission: rw-r--r--}')).toContain('octal');
  });

  it('keeps what the user wrote for keys YAML would turn into numbers or booleans', () => {
    const [object] = parse('- {objectName: 2024, secretPath: s/a, secretKey: 0123}').objects;
    expect(object?.objectName).toBe('2024');
    expect(object?.secretKey).toBe('0123');
  });

  it('refuses what is not a list of known fields, naming the item and field', () => {
    expect(invalid('objectName: a')).toContain('must be a YAML list');
    expect(invalid('[]')).toContain('lists no object');
    expect(invalid('- just-a-string')).toContain('item 1: must be a map');
    expect(invalid('- {objectName: a, secretPath: s/a, secretkey: x}')).toContain('unknown field "secretkey" (did you mean "secretKey"?)');
    expect(invalid('- {objectName: a, secretPath: s/a, objectAlias: x}')).toContain('unknown field "objectAlias"');
    expect(invalid('- {secretPath: s/a}')).toContain('objectName is required');
    expect(invalid('- {objectName: a}')).toContain('secretPath is required');
    expect(invalid('- {objectName: a, secretPath: s/a, secretKey: [x]}')).toContain('secretKey must be a single value');
    expect(invalid('- {objectName: a, secretPath: s/a, objectName: b}')).toContain('not valid YAML');
    expect(invalid('- {objectName: a, secretPath: [')).toContain('not valid YAML');
  });

  it('refuses duplicate, colliding and unsafe object names', () => {
    expect(invalid('- {objectName: a, secretPath: s/a}\n- {objectName: a, secretPath: s/b}')).toContain('objectName "a" appears twice');
    expect(invalid('- {objectName: a, secretPath: s/a}\n- {objectName: a/b, secretPath: s/b}')).toContain('"a" is a file');
    for (const [name, reason] of [
      ['../escape', '".." element'],
      ['/etc/passwd', 'absolute'],
      ['a//b', 'empty path element'],
      ['a/', 'empty path element'],
      ['./a', '"." element'],
      ['..data', 'reserved'],
      ['a\\\\b', 'backslash'],
      ['a/b/c/d/e/f/g/h/i', 'deeper than 8'],
      ['x'.repeat(256), 'longer than 255'],
    ]) {
      expect(invalid(`- {objectName: "${name}", secretPath: s/a}`)).toContain(reason);
    }
  });

  it('refuses bad paths, methods, encodings and argument combinations', () => {
    expect(invalid('- {objectName: a, secretPath: "secret/../sys/seal"}')).toContain('secretPath');
    expect(invalid('- {objectName: a, secretPath: "secret//app"}')).toContain('secretPath');
    expect(invalid('- {objectName: a, secretPath: "secret/my app"}')).toContain('no spaces');
    expect(invalid('- {objectName: a, secretPath: s/a, method: DELETE}')).toContain('method "DELETE"');
    expect(invalid('- {objectName: a, secretPath: s/a, secretKey: k, encoding: base32}')).toContain('encoding "base32"');
    expect(invalid('- {objectName: a, secretPath: s/a, encoding: hex}')).toContain('needs a secretKey');
    expect(invalid('- {objectName: a, secretPath: s/a, secretArgs: {x: 1}}')).toContain('method: POST');
    expect(invalid('- {objectName: a, secretPath: s/a, method: POST, secretArgs: [1]}')).toContain('secretArgs must be a map');
    expect(invalid('- {objectName: a, secretPath: "s/a?x=1", method: POST}')).toContain('query string');
  });

  it('bounds aliases, size and count', () => {
    const bomb = ['- &a {objectName: a, secretPath: s/a, method: POST, secretArgs: {x: [1, 2]}}'];
    for (let level = 0; level < 12; level++) bomb.push(`- {objectName: o${level}, secretPath: s/a, method: POST, secretArgs: {x: *a, y: *a}}`);
    expect(invalid(bomb.join('\n'))).toMatch(/alias/i);
    expect(invalid(`- {objectName: a, secretPath: s/a, secretKey: "${'k'.repeat(70_000)}"}`)).toContain('longer than');
    const many = Array.from({ length: MAX_OBJECTS + 1 }, (_, index) => `- {objectName: o${index}, secretPath: s/a}`).join('\n');
    expect(invalid(many)).toContain(`more than ${MAX_OBJECTS}`);
  });
});

describe('roleName and the parameters that moved to the instance', () => {
  it('needs a roleName with pod identity, and refuses one with the driver identity', () => {
    expect(() => parseVaultAttributes({ objects: '- {objectName: a, secretPath: s/a}' }, POD)).toThrow(/roleName is required/);
    const shared = { instanceName: 'v', usesPodIdentity: false, allowedPaths: new AllowedPaths(['s/*']) };
    expect(parseVaultAttributes({ objects: '- {objectName: a, secretPath: s/a}' }, shared).roleName).toBeUndefined();
    expect(invalid('- {objectName: a, secretPath: s/a}', {}, { instanceName: 'v', usesPodIdentity: false })).toContain("driver's own Vault identity");
    expect(() => parseVaultAttributes({ roleName: 'app' }, POD)).toThrow(/"objects" is required/);
  });

  it('tells a pod that sets vaultAddress or another connection parameter where it lives now', () => {
    expect(invalid('- {objectName: a, secretPath: s/a}', { vaultAddress: 'https://vault:8200' })).toContain('"address" of provider instance "vault"');
    expect(invalid('- {objectName: a, secretPath: s/a}', { vaultKubernetesMountPath: 'k8s' })).toContain('"auth.mountPath"');
    expect(invalid('- {objectName: a, secretPath: s/a}', { audience: 'x' })).toContain('"auth.audience"');
  });
});
