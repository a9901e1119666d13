/**
 * vault-pki settings and pod attributes, checked before anything is mounted
 * or sent: these need no server (create() only reads files it is told to).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeymountError } from '../../../src/provider/contract.js';
import { vaultPkiProviderType } from '../../../providers/vault/index.js';
import { BUILT_IN_PROVIDER_TYPES } from '../../../src/provider/built-in.js';
import { captureLogger, pod } from './helpers.js';
import { createPkiProvider } from './pki-helpers.js';

const connection = { address: 'http://127.0.0.1:1', auth: { type: 'jwt' } };

async function settingsError(settings: unknown): Promise<string> {
  const { logger } = captureLogger();
  try {
    await vaultPkiProviderType.create('certs', settings, { clock: { now: () => new Date() }, logger });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected create() to refuse the settings');
}

function parseError(parse: () => unknown): KeymountError {
  try {
    parse();
  } catch (error) {
    if (error instanceof KeymountError) return error;
    throw error;
  }
  throw new Error('expected the attributes to be refused');
}

describe('vault-pki settings', () => {
  it('is a built-in provider type', () => {
    expect(BUILT_IN_PROVIDER_TYPES.map((type) => type.type)).toContain('vault-pki');
  });

  it('needs pkiRole and names the instance and the setting', async () => {
    expect(await settingsError(connection)).toBe('vault-pki instance "certs": invalid settings: pkiRole: is required');
  });

  it('refuses a maxIssuancesPerMinute outside 1 to 600, naming the setting', async () => {
    for (const value of [0, 2.5, 601, '4']) {
      expect(await settingsError({ ...connection, pkiRole: 'web', maxIssuancesPerMinute: value })).toContain(
        'vault-pki instance "certs": invalid settings: maxIssuancesPerMinute: ',
      );
    }
  });

  it('takes the vault connection and auth settings, and refuses unknown or malformed ones', async () => {
    const message = await settingsError({
      ...connection,
      pkiRole: 'web/x',
      pkiMount: '/pki',
      trustDomain: 'Cluster.Local',
      objects: '[]',
      address: 'ftp://vault',
    });
    expect(message).toContain('unknown setting "objects"');
    expect(message).toContain('pkiRole: must be the name of a role of the PKI mount');
    expect(message).toContain('pkiMount: must be the path of a PKI mount');
    expect(message).toContain('trustDomain: must be a SPIFFE trust domain');
    expect(message).toContain('address: must be an http:// or https:// URL');
    expect(await settingsError({ ...connection, pkiRole: 'web', auth: { type: 'token', tokenFile: '/nonexistent' } })).toContain(
      'auth.sharedIdentity.acknowledged',
    );
    // vault-pki pods name no path: an allow-list would suggest a control that does not exist.
    expect(
      await settingsError({ ...connection, pkiRole: 'web', auth: { type: 'token', tokenFile: '/nonexistent', sharedIdentity: { acknowledged: true, allow: ['pki/*'] } } }),
    ).toContain('auth.sharedIdentity.allow: does not apply to vault-pki');
  });

  it('accepts a minimal instance (pkiMount defaults to "pki")', async () => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    expect(provider.type).toBe('vault-pki');
    expect(provider.attributeKeys).toEqual(expect.arrayContaining(['roleName', 'common-name', 'dns-names', 'pkcs12-enable', 'issuer-name']));
  });
});

describe('vault-pki attributes', () => {
  const identity = pod({ namespace: 'shop', serviceAccountName: 'web', name: 'web-0' });

  it('parses the certificate attributes with templates, plus roleName', async () => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    const parsed = provider.parseAttributes(
      { roleName: ' pki ', 'common-name': '${POD_NAME}.${POD_NAMESPACE}.svc', 'dns-names': 'a.shop.svc,A.shop.svc', duration: '1h', 'key-algorithm': 'rsa' },
      identity,
    );
    expect(parsed.roleName).toBe('pki');
    expect(parsed.commonName).toBe('web-0.shop.svc');
    expect(parsed.dnsNames).toEqual(['a.shop.svc']);
    expect(parsed.durationMs).toBe(3_600_000);
    expect(parsed.key.algorithm).toBe('RSA');
  });

  it('requires roleName with pod auth, and refuses it with the driver\'s own identity', async () => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    expect(parseError(() => provider.parseAttributes({ 'dns-names': 'a.shop.svc' }, identity)).message).toContain('volumeAttributes.roleName is required');
    const dir = mkdtempSync(join(tmpdir(), 'keymount-pki-'));
    try {
      writeFileSync(join(dir, 'token'), 'driver-token\n');
      const shared = await createPkiProvider({
        address: 'http://127.0.0.1:1',
        pkiRole: 'web',
        auth: { type: 'token', tokenFile: join(dir, 'token'), sharedIdentity: { acknowledged: true } },
      });
      expect(shared.provider.parseAttributes({ 'dns-names': 'a.shop.svc' }, identity).roleName).toBeUndefined();
      const error = parseError(() => shared.provider.parseAttributes({ roleName: 'pki', 'dns-names': 'a.shop.svc' }, identity));
      expect(error.message).toContain("reads with the driver's own Vault identity");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a pod that asks for no name unless the instance has a trustDomain, which gives it its SPIFFE ID', async () => {
    const plain = await createPkiProvider({ ...connection, pkiRole: 'web' });
    const refused = parseError(() => plain.provider.parseAttributes({ roleName: 'pki' }, identity));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toContain('vault-pki instance "pki" needs a name');
    expect(refused.message).toContain('trustDomain');
    const spiffe = await createPkiProvider({ ...connection, pkiRole: 'web', trustDomain: 'cluster.local' });
    const parsed = spiffe.provider.parseAttributes({ roleName: 'pki' }, identity);
    expect(parsed.uris).toEqual(['spiffe://cluster.local/ns/shop/sa/web']);
    expect(parsed.usesDefaultUri).toBe(true);
  });

  it.each([
    [{ 'is-ca': 'true' }, 'is-ca', "Vault's sign-intermediate endpoint is not offered"],
    [{ 'is-ca': 'TRUE' }, 'is-ca', 'leaf certificates only'],
    [{ 'key-usages': 'digital signature' }, 'key-usages', 'the PKI role "web" at pki/ (provider instance "pki") decides the usages'],
    [{ 'ext-key-usages': 'server auth' }, 'ext-key-usages', 'key_usage, ext_key_usage, server_flag and client_flag'],
    [{ organizations: 'Acme' }, 'organizations', 'Vault takes only the common name from the pod'],
    [{ 'literal-subject': 'CN=a.shop.svc,O=Acme' }, 'literal-subject', 'use "common-name" instead'],
    [{ 'issuer-name': 'vault-issuer' }, 'issuer-name', 'the provider instance ("pki", chosen by "provider") says which CA signs'],
    [{ 'issuer-kind': 'ClusterIssuer' }, 'issuer-kind', 'remove it'],
    [{ 'pkcs12-password': 'x' }, 'pkcs12-password', 'nodePublishSecretRef'],
  ])('refuses %o with INVALID_ARGUMENT naming "%s" instead of letting Vault drop it', async (attributes, key, reason) => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    const error = parseError(() => provider.parseAttributes({ roleName: 'pki', 'dns-names': 'a.shop.svc', ...attributes }, identity));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(`"${key}"`);
    expect(error.message).toContain(reason);
  });

  it('bounds the same structures as local-ca: 50,000 SANs, a 250 KB subject and a 200 KB name are refused with a short message', async () => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    const cases: readonly [Record<string, string>, string][] = [
      [{ 'dns-names': Array.from({ length: 50_000 }, (_, index) => `n${index}.shop.svc`).join(',') }, 'more than 100 items'],
      [{ 'uri-sans': 'spiffe://x/y,'.repeat(50_000) }, 'more than 100 items'],
      [{ 'literal-subject': `CN=a.shop.svc${'+OU=x'.repeat(50_000)}` }, '"literal-subject"'],
      [{ 'common-name': 'x'.repeat(200_000) }, '"common-name"'],
    ];
    for (const [attributes, expected] of cases) {
      const error = parseError(() => provider.parseAttributes({ roleName: 'pki', ...attributes }, identity));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(expected);
      expect(error.message.length).toBeLessThan(400);
    }
  });

  it('refuses a certificate shorter than the instance\'s minDuration (default 1h) with PERMISSION_DENIED naming the setting', async () => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    for (const duration of ['2s', '59m']) {
      const error = parseError(() => provider.parseAttributes({ roleName: 'pki', 'dns-names': 'a.shop.svc', duration }, identity));
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.message).toContain(`attribute "duration": "${duration}"`);
      expect(error.message).toContain('vault-pki instance "pki"');
      expect(error.message).toContain('minDuration');
    }
    const lowered = await createPkiProvider({ ...connection, pkiRole: 'web', minDuration: '5m' });
    expect(lowered.provider.parseAttributes({ roleName: 'pki', 'dns-names': 'a.shop.svc', duration: '5m' }, identity).durationMs).toBe(300_000);
    expect(await settingsError({ ...connection, pkiRole: 'web', minDuration: '1s' })).toContain('minDuration');
  });

  it('accepts is-ca "false" (the default) and every other certificate attribute', async () => {
    const { provider } = await createPkiProvider({ ...connection, pkiRole: 'web' });
    const parsed = provider.parseAttributes(
      {
        roleName: 'pki',
        'is-ca': 'false',
        'common-name': 'a.shop.svc',
        'ip-sans': '10.0.0.1',
        'uri-sans': 'spiffe://cluster.local/ns/shop/sa/web',
        'email-sans': 'ops@Shop.example',
        'renew-before': '10m',
        'key-algorithm': 'Ed25519',
        'reuse-private-key': 'true',
        'certificate-file': 'cert.pem',
        'privatekey-file': 'key.pem',
        'ca-file': 'chain.pem',
        'pkcs12-enable': 'true',
        'pkcs12-legacy': 'true',
      },
      identity,
    );
    expect(parsed.isCA).toBe(false);
    expect(parsed.emailAddresses).toEqual(['ops@shop.example']);
    expect(parsed.fileNames).toEqual({ certificate: 'cert.pem', privateKey: 'key.pem', ca: 'chain.pem' });
    expect(parsed.pkcs12).toEqual({ fileName: 'keystore.p12', legacy: true });
  });
});
