/**
 * The Vault paths a pod may name, checked without a server: every spelling
 * OpenBao resolves to the same endpoint (it percent-decodes the path and
 * redirects "//", "." and ".." to the cleaned path) is refused like the plain
 * one. test/hardening/shared-identity-vault.test.ts proves the same against a
 * real OpenBao.
 */
import { describe, expect, it } from 'vitest';
import { AllowedPaths, checkObjectPath, invalidAllowPatternReason, reservedPathReason } from '../../../providers/vault/path-policy.js';
import { KeymountError } from '../../../src/provider/contract.js';

describe('paths no pod may name', () => {
  it.each([
    'auth/token/lookup-self',
    'auth/token/revoke-self',
    'auth/token/renew-self',
    'auth/approle/role/keymount/secret-id',
    'sys/leases/lookup',
    'sys/mounts',
    'identity/entity/id',
    'Auth/token/lookup-self',
    'SYS/leases/revoke',
    'auth%2Ftoken%2Flookup-self',
    'auth%252Ftoken%252Flookup-self',
    '%61uth/token/lookup-self',
    'secret/%2e%2e/auth/token/lookup-self',
    'secret/%2E%2E/sys/leases/revoke',
    'secret/x/%2e%2e/%2e%2e/identity/entity',
    'team-a/auth/token/lookup-self',
    'team-a/sys/leases/revoke',
    'kv/data/lookup-self',
    'secret/%2e%2e/%2e%2e/x',
    'a/%25252525252e',
  ])('refuses %s on every instance', (path) => {
    expect(reservedPathReason(path, false)).toBeDefined();
    expect(reservedPathReason(path, true)).toBeDefined();
  });

  it.each(['secret/data/app', 'secret/app', 'kv/data/team/auth', 'database/creds/app', 'secret/data/100%', 'secret/data/my-self'])(
    'lets a pod-identity instance read %s',
    (path) => {
      expect(reservedPathReason(path, false)).toBeUndefined();
    },
  );

  it('refuses auth, sys and identity segments anywhere on a shared-identity instance (a namespace prefix reaches them)', () => {
    expect(reservedPathReason('team-a/sys/mounts', true)).toBeDefined();
    expect(reservedPathReason('team-a/identity/entity/id', true)).toBeDefined();
    expect(reservedPathReason('team-a/sys/mounts', false)).toBeUndefined();
  });
});

describe('the allow-list of a shared-identity instance', () => {
  const allowed = new AllowedPaths(['secret/data/shared/*', 'kv/data/+/config', 'secret/data/app-*']);

  it('matches Vault policy globs', () => {
    expect(allowed.allows('secret/data/shared/db')).toBe(true);
    expect(allowed.allows('secret/data/shared/a/b')).toBe(true);
    expect(allowed.allows('secret/data/shared')).toBe(false);
    expect(allowed.allows('secret/data/sharedX/db')).toBe(false);
    expect(allowed.allows('kv/data/team/config')).toBe(true);
    expect(allowed.allows('kv/data/team/x/config')).toBe(false);
    expect(allowed.allows('secret/data/app-web')).toBe(true);
    expect(allowed.allows('secret/data/ap')).toBe(false);
    expect(allowed.allows('Secret/data/shared/db')).toBe(false);
  });

  it('accepts the short KV v2 form before the mount is known', () => {
    expect(allowed.mayAllow('secret/shared/db')).toBe(true);
    expect(allowed.mayAllow('secret/private/db')).toBe(false);
  });

  const check = (path: string, method = 'GET'): KeymountError | undefined => {
    try {
      checkObjectPath({ instanceName: 'shared', allowed }, 'item 1', path, method);
      return undefined;
    } catch (error) {
      return error as KeymountError;
    }
  };

  it('refuses every spelling that leaves the list, and writes, with PERMISSION_DENIED naming the instance and setting', () => {
    for (const path of ['secret/data/private/db', 'secret/data/shared/%2e%2e/%2e%2e/private/db', 'secret/data/shared/..%2f..%2fprivate/db']) {
      const error = check(path);
      expect(error?.code, path).toBe('PERMISSION_DENIED');
      expect(error?.message).toContain('auth.sharedIdentity.allow of provider instance "shared"');
    }
    expect(check('secret/data/shared/db', 'POST')?.message).toContain('method POST and secretArgs are refused');
    expect(check('secret/data/shared/db')).toBeUndefined();
  });

  it('refuses patterns that are malformed or could only match forbidden paths', () => {
    expect(invalidAllowPatternReason('secret/data/shared/*')).toBeUndefined();
    expect(invalidAllowPatternReason('*')).toBeUndefined();
    expect(invalidAllowPatternReason('/secret/*')).toContain('Vault path pattern');
    expect(invalidAllowPatternReason('secret/*/x')).toContain('Vault path pattern');
    expect(invalidAllowPatternReason('secret//x')).toContain('Vault path pattern');
    expect(invalidAllowPatternReason('auth/token/*')).toContain('can never match');
    expect(invalidAllowPatternReason('sys/*')).toContain('can never match');
  });
});
