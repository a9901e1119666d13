import { beforeAll, describe, expect, it } from 'vitest';
import type { Provider } from '../../../src/provider/contract.js';
import { POD, createLocalCa, expectKeymountError, issue } from './helpers.js';

async function defaultProvider(settings: unknown = {}): Promise<Provider> {
  return (await createLocalCa(settings)).provider;
}

/** One default instance for checks that do not depend on settings (creating one generates a CA). */
let shared: Provider;
beforeAll(async () => {
  shared = await defaultProvider();
});

function parse(provider: Provider, attributes: Record<string, string>): unknown {
  return provider.parseAttributes(attributes, POD);
}

describe('local-ca attribute keys', () => {
  it('lists exactly the attributes it understands', async () => {
    const provider = await defaultProvider();
    expect([...provider.attributeKeys].sort()).toEqual(
      [
        'common-name', 'organizations', 'literal-subject', 'dns-names', 'ip-sans', 'uri-sans', 'email-sans',
        'duration', 'renew-before', 'key-algorithm', 'key-size', 'key-encoding', 'reuse-private-key', 'is-ca',
        'key-usages', 'ext-key-usages', 'certificate-file', 'privatekey-file', 'ca-file', 'pkcs12-enable',
        'pkcs12-filename', 'pkcs12-legacy', 'pkcs12-password',
      ].sort(),
    );
    expect(provider.type).toBe('local-ca');
  });

  it('ignores attributes that belong to the core', async () => {
    const provider = await defaultProvider();
    const common = {
      provider: 'test-ca',
      fileMode: '0440',
      fsGroup: '2000',
      'csi.storage.k8s.io/pod.name': 'web-0',
      'csi.storage.k8s.io/ephemeral': 'true',
    };
    expect(parse(provider, common)).toEqual(parse(provider, {}));
  });

  it('returns a frozen result', async () => {
    const provider = await defaultProvider();
    const parsed = parse(provider, { 'dns-names': 'web.shop.svc' });
    expect(Object.isFrozen(parsed)).toBe(true);
    expect(Object.isFrozen((parsed as { dnsNames: unknown }).dnsNames)).toBe(true);
  });

  it('trims list entries, drops empty ones and duplicates, and lower-cases DNS names', async () => {
    const provider = await defaultProvider();
    const volume = await issue(provider, { 'dns-names': ' Web.shop.svc ,, web.shop.svc, api.shop.svc ,' });
    expect(volume.certificate.subjectAltName).toBe('DNS:web.shop.svc, DNS:api.shop.svc');
  });
});

describe('local-ca template errors', () => {
  it('refuses an unknown variable, naming the attribute and the variable', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { 'dns-names': '${NODE_NAME}.shop.svc' }), 'INVALID_ARGUMENT');
    expect(error.message).toContain('"dns-names"');
    expect(error.message).toContain('${NODE_NAME}');
  });

  it('refuses an unterminated variable', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { 'common-name': '${POD_NAME' }), 'INVALID_ARGUMENT');
    expect(error.message).toMatch(/"common-name".*unterminated/);
  });

  it('refuses names that are malformed after expansion', async () => {
    const provider = await defaultProvider();
    const cases: Record<string, string> = {
      'dns-names': 'web_1.shop.svc',
      'ip-sans': '10.0.0.300',
      'uri-sans': 'not a uri',
      'common-name': 'x'.repeat(65),
    };
    for (const [attribute, value] of Object.entries(cases)) {
      const error = await expectKeymountError(() => parse(provider, { [attribute]: value }), 'INVALID_ARGUMENT');
      expect(error.message).toContain(`"${attribute}"`);
    }
  });

  it('accepts a leading wildcard label as DNS syntax, but no default pattern allows it', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { 'dns-names': '*.shop.svc' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"*.shop.svc"');
  });
});

describe('local-ca policy', () => {
  it('refuses a DNS name outside the policy, naming it', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { 'dns-names': 'web.billing.svc' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"dns-names"');
    expect(error.message).toContain('"web.billing.svc"');
    expect(error.message).toContain('policy of local-ca instance "test-ca"');
  });

  it('lets the default DNS patterns match exactly one label in the pod\'s namespace', async () => {
    const provider = await defaultProvider();
    expect(() => parse(provider, { 'dns-names': 'web.shop.svc, web.shop.svc.cluster.local' })).not.toThrow();
    await expectKeymountError(() => parse(provider, { 'dns-names': 'a.web.shop.svc' }), 'PERMISSION_DENIED');
    await expectKeymountError(() => parse(provider, { 'dns-names': 'shop.svc' }), 'PERMISSION_DENIED');
  });

  it('refuses a URI SAN for another service account', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(
      () => parse(provider, { 'uri-sans': 'spiffe://cluster.local/ns/shop/sa/admin' }),
      'PERMISSION_DENIED',
    );
    expect(error.message).toContain('"uri-sans"');
    expect(error.message).toContain('spiffe://cluster.local/ns/shop/sa/admin');
  });

  it('policy-checks the default SPIFFE ID too', async () => {
    const provider = await defaultProvider({ trustDomain: 'example.org', policy: { uriSans: ['spiffe://cluster.local/*'] } });
    const error = await expectKeymountError(() => parse(provider, {}), 'PERMISSION_DENIED');
    expect(error.message).toContain('spiffe://example.org/ns/shop/sa/web');
  });

  it('uses the trust domain in the default SPIFFE ID and in policy patterns', async () => {
    const provider = await defaultProvider({ trustDomain: 'example.org' });
    const volume = await issue(provider);
    expect(volume.certificate.subjectAltName).toBe('URI:spiffe://example.org/ns/shop/sa/web');
  });

  it('allows no IP SANs unless the admin lists them', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { 'ip-sans': '10.0.0.1' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"ip-sans": "10.0.0.1"');
    const allowing = await defaultProvider({ policy: { ipSans: ['192.168.0.0/16'] } });
    await expectKeymountError(() => parse(allowing, { 'ip-sans': '10.0.0.1' }), 'PERMISSION_DENIED');
    expect(() => parse(allowing, { 'ip-sans': '192.168.4.5' })).not.toThrow();
  });

  it('allows a common name that is one of the request\'s DNS names by default, and listed ones when commonNames is set', async () => {
    // Issue 11: by default a CN must also be one of the certificate's own (policy-checked) DNS names.
    await expectKeymountError(() => parse(shared, { 'common-name': 'anything at all' }), 'PERMISSION_DENIED');
    expect(() => parse(shared, { 'common-name': 'web.shop.svc', 'dns-names': 'web.shop.svc' })).not.toThrow();
    const provider = await defaultProvider({ policy: { commonNames: ['${POD_NAME}.${POD_NAMESPACE}', 'svc-*'] } });
    expect(() => parse(provider, { 'common-name': 'web-0.shop' })).not.toThrow();
    expect(() => parse(provider, { 'common-name': 'svc-web' })).not.toThrow();
    const error = await expectKeymountError(() => parse(provider, { 'common-name': 'svc-web.other' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"common-name": CN "svc-web.other"');
  });

  it('matches values substituted into patterns literally', async () => {
    const provider = await defaultProvider({ policy: { dnsNames: ['${POD_NAME}.${POD_NAMESPACE}.svc'] } });
    // Pod names may contain dots; a dot from the pod's name must not act as a regular-expression wildcard.
    const pod = { ...POD, name: 'web.0' };
    expect(() => provider.parseAttributes({ 'dns-names': 'web.0.shop.svc' }, pod)).not.toThrow();
    await expectKeymountError(() => provider.parseAttributes({ 'dns-names': 'webx0.shop.svc' }, pod), 'PERMISSION_DENIED');
  });

  it('allows no email SANs unless the admin lists patterns for them', async () => {
    const error = await expectKeymountError(() => parse(shared, { 'email-sans': 'web@example.com' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"email-sans": "web@example.com" is not allowed');
  });

  it('matches email patterns: any local part before "@", one DNS label after it, case-insensitively', async () => {
    const provider = await defaultProvider({
      policy: { emailSans: ['*@example.com', '${SERVICE_ACCOUNT_NAME}@*.example.org'] },
    });
    for (const allowed of ['first.last+tag@example.com', 'WEB@Example.COM', 'web@mail.example.org']) {
      expect(() => parse(provider, { 'email-sans': allowed })).not.toThrow();
    }
    for (const refused of ['web@other.com', 'web@a.b.example.org', 'admin@mail.example.org', 'web@example.com.evil.net']) {
      const error = await expectKeymountError(() => parse(provider, { 'email-sans': refused }), 'PERMISSION_DENIED');
      expect(error.message).toContain(`"email-sans": "${refused}"`);
    }
  });

  it('checks the CN of a literal subject against commonNames, naming literal-subject', async () => {
    const provider = await defaultProvider({ policy: { commonNames: ['${POD_NAME}'], subjectAttributes: { O: ['Example'] } } });
    expect(() => parse(provider, { 'literal-subject': 'CN=${POD_NAME},O=Example' })).not.toThrow();
    const error = await expectKeymountError(() => parse(provider, { 'literal-subject': 'CN=admin,O=Example' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('attribute "literal-subject": CN "admin" is not allowed');
  });

  it('refuses a duration over the maximum', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { duration: '25h' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"duration": "25h"');
    expect(error.message).toContain('maximum 24h');
    const generous = await defaultProvider({ policy: { maxDuration: '48h' } });
    expect(() => parse(generous, { duration: '25h' })).not.toThrow();
  });

  it('refuses is-ca unless the policy allows it', async () => {
    const provider = await defaultProvider();
    const error = await expectKeymountError(() => parse(provider, { 'is-ca': 'true' }), 'PERMISSION_DENIED');
    expect(error.message).toContain('"is-ca"');
    expect(() => parse(provider, { 'is-ca': 'false' })).not.toThrow();
  });
});

describe('local-ca malformed attributes', () => {
  const invalid: readonly [string, Record<string, string>, string][] = [
    ['a malformed duration', { duration: '1 day' }, '"duration": "1 day"'],
    ['a duration without unit', { duration: '3600' }, '"duration": "3600"'],
    ['a duration under two seconds', { duration: '1s' }, 'minimum of 2s'],
    ['an unknown key algorithm', { 'key-algorithm': 'DSA' }, '"key-algorithm": "DSA"'],
    ['an unsupported RSA size', { 'key-algorithm': 'RSA', 'key-size': '1024' }, '"key-size"'],
    ['an unsupported ECDSA size', { 'key-size': '255' }, '"key-size"'],
    ['a key size for Ed25519', { 'key-algorithm': 'ed25519', 'key-size': '256' }, '"key-size"'],
    ['a non-numeric key size', { 'key-size': 'big' }, '"key-size": "big"'],
    ['PKCS1 for ECDSA', { 'key-encoding': 'PKCS1' }, '"key-encoding"'],
    ['an unknown key encoding', { 'key-encoding': 'DER' }, '"key-encoding": "DER"'],
    ['a non-boolean is-ca', { 'is-ca': 'yes' }, '"is-ca": "yes"'],
    ['an unknown key usage', { 'key-usages': 'digital signature, world domination' }, '"world domination"'],
    ['an empty key usage list', { 'key-usages': ' , ' }, '"key-usages"'],
    ['cert sign without is-ca', { 'key-usages': 'digital signature, cert sign' }, '"cert sign" needs "is-ca: true"'],
    ['an empty file name', { 'ca-file': ' ' }, '"ca-file"'],
    ['two files with one name', { 'ca-file': 'tls.crt' }, '"ca-file" ("tls.crt") must name 3 different files'],
  ];

  it.each(invalid)('refuses %s', async (_case, attributes, expected) => {
    const error = await expectKeymountError(() => parse(shared, attributes), 'INVALID_ARGUMENT');
    expect(error.message).toContain(expected);
  });

  it('accepts Go durations and case-insensitive enumerations', async () => {
    const provider = await defaultProvider({ policy: { minDuration: '1m' } });
    for (const duration of ['24h', '90m', '1h30m', '3600s', '1m']) {
      expect(() => parse(provider, { duration })).not.toThrow();
    }
    expect(() => parse(provider, { 'key-algorithm': 'rsa', 'key-encoding': 'pkcs1', 'key-size': '4096' })).not.toThrow();
    expect(() => parse(provider, { 'is-ca': 'FALSE', 'key-usages': 'Server Auth' })).not.toThrow();
  });
});
