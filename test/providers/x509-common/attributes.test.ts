/**
 * The shared certificate attributes, parsed without any provider policy: the
 * attributes issue 5 adds, and how they combine.
 */
import { describe, expect, it } from 'vitest';
import { CERTIFICATE_ATTRIBUTE_KEYS, parseCertificateAttributes } from '../../../providers/x509-common/index.js';
import { POD, expectKeymountError } from '../local-ca/helpers.js';

const COMMON_NAME = '2.5.4.3';
const ORGANIZATION = '2.5.4.10';
const COUNTRY = '2.5.4.6';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function parse(attributes: Record<string, string>, defaultUri?: string): ReturnType<typeof parseCertificateAttributes> {
  return parseCertificateAttributes(attributes, POD, defaultUri === undefined ? {} : { defaultUri });
}

async function refused(attributes: Record<string, string>): Promise<string> {
  return (await expectKeymountError(() => parse(attributes), 'INVALID_ARGUMENT')).message;
}

describe('certificate attribute defaults', () => {
  it('parses an empty request into the documented defaults', () => {
    const parsed = parse({});
    expect(parsed).toMatchObject({
      commonName: undefined,
      subject: [],
      dnsNames: [],
      emailAddresses: [],
      usesDefaultUri: false,
      durationMs: 24 * 3600_000,
      renewBeforeMs: undefined,
      key: { algorithm: 'ECDSA', curve: 'P-256' },
      keyEncoding: 'PKCS8',
      reusePrivateKey: false,
      isCA: false,
      keyUsages: { basic: ['digital signature', 'key encipherment'], extended: [SERVER_AUTH, CLIENT_AUTH] },
      fileNames: { certificate: 'tls.crt', privateKey: 'tls.key', ca: 'ca.crt' },
      pkcs12: undefined,
    });
    expect(Object.isFrozen(parsed)).toBe(true);
  });

  it('gives the default URI only to a request without any name', () => {
    expect(parse({}, 'spiffe://td/ns/shop/sa/web')).toMatchObject({ uris: ['spiffe://td/ns/shop/sa/web'], usesDefaultUri: true });
    expect(parse({ 'email-sans': 'web@example.com' }, 'spiffe://td/x')).toMatchObject({ uris: [], usesDefaultUri: false });
    expect(parse({ 'literal-subject': 'CN=web' }, 'spiffe://td/x')).toMatchObject({ uris: [], usesDefaultUri: false });
    // An organization alone names nobody: the default still applies.
    expect(parse({ organizations: 'Example' }, 'spiffe://td/x')).toMatchObject({ uris: ['spiffe://td/x'], usesDefaultUri: true });
  });

  it('lists every attribute it reads', () => {
    expect(CERTIFICATE_ATTRIBUTE_KEYS).toContain('renew-before');
    expect(CERTIFICATE_ATTRIBUTE_KEYS).toContain('pkcs12-password');
    expect(new Set(CERTIFICATE_ATTRIBUTE_KEYS).size).toBe(CERTIFICATE_ATTRIBUTE_KEYS.length);
  });
});

describe('subject attributes', () => {
  const rdn = (type: string, value: string): { type: string; value: string }[] => [{ type, value }];

  it.each<[string, Record<string, string>, string, ReturnType<typeof rdn>[]]>([
    [
      'puts organizations before the common name, in DER order',
      { 'common-name': '${POD_NAME}', organizations: 'Example, Other ,Example' },
      'web-0',
      [rdn(ORGANIZATION, 'Example'), rdn(ORGANIZATION, 'Other'), rdn(COMMON_NAME, 'web-0')],
    ],
    [
      'reverses a literal subject into DER order and takes its CN as the common name',
      { 'literal-subject': 'CN=${POD_NAME}.${POD_NAMESPACE}, O=Example, C=DE' },
      'web-0.shop',
      [rdn(COUNTRY, 'DE'), rdn(ORGANIZATION, 'Example'), rdn(COMMON_NAME, 'web-0.shop')],
    ],
  ])('%s', (_case, attributes, commonName, subject) => {
    const parsed = parse(attributes);
    expect(parsed.commonName).toBe(commonName);
    expect(parsed.subject).toEqual(subject);
  });

  it('keeps a multi-valued RDN together', () => {
    expect(parse({ 'literal-subject': 'CN=app+UID=42,DC=example' }).subject).toEqual([
      [{ type: '0.9.2342.19200300.100.1.25', value: 'example' }],
      [
        { type: COMMON_NAME, value: 'app' },
        { type: '0.9.2342.19200300.100.1.1', value: '42' },
      ],
    ]);
  });

  it('escapes substituted values, so a pod\'s name can never add a subject attribute', () => {
    const pod = { ...POD, name: 'web,O=Evil+OU=x' };
    const parsed = parseCertificateAttributes({ 'literal-subject': 'CN=${POD_NAME},O=Example' }, pod);
    expect(parsed.subject).toEqual([[{ type: ORGANIZATION, value: 'Example' }], [{ type: COMMON_NAME, value: 'web,O=Evil+OU=x' }]]);
  });

  it('refuses literal-subject together with common-name or organizations', async () => {
    for (const other of [{ 'common-name': 'web' }, { organizations: 'Example' }] as Record<string, string>[]) {
      const message = await refused({ 'literal-subject': 'CN=web', ...other });
      expect(message).toContain('"literal-subject" sets the whole subject and cannot be combined with');
    }
  });

  it('refuses a literal subject with two common names', async () => {
    expect(await refused({ 'literal-subject': 'CN=a,CN=b' })).toContain('has 2 CN attributes');
  });

  it('refuses malformed literal subjects, naming the attribute', async () => {
    const cases: readonly [string, string][] = [
      ['', 'is empty'],
      ['garbage', 'expected "=" after "garbage"'],
      ['CN=app,XX=1', 'unknown attribute type "XX"'],
      ['CN=#04036162', 'hex-encoded values'],
      ['CN=a"b', 'must be escaped as "\\""'],
      ['C=Germany', 'two-letter country code'],
      ['CN=', 'must be 1 to 64 characters'],
      ['CN=app;O=x', '";" must be escaped'],
      ['CN=a\\q', 'invalid escape'],
    ];
    for (const [subject, expected] of cases) {
      const message = await refused({ 'literal-subject': subject });
      expect(message).toContain('attribute "literal-subject"');
      expect(message).toContain(expected);
    }
  });

  it('refuses an empty or over-long organization', async () => {
    expect(await refused({ organizations: 'x'.repeat(65) })).toContain('"organizations"');
  });
});

describe('email SANs', () => {
  it('accepts addresses, lower-cases the domain only, and drops duplicates', () => {
    const parsed = parse({ 'email-sans': 'Web.Team@Example.COM, ${SERVICE_ACCOUNT_NAME}+${POD_NAMESPACE}@example.com, Web.Team@example.com' });
    expect(parsed.emailAddresses).toEqual(['Web.Team@example.com', 'web+shop@example.com']);
  });

  it('refuses what is not an address', async () => {
    for (const address of ['web', '@example.com', 'web@', 'web@localhost', 'a b@example.com', 'web@*.example.com', 'wéb@example.com']) {
      const message = await refused({ 'email-sans': address });
      expect(message).toContain(`attribute "email-sans": "${address}" is not a valid email address`);
    }
  });
});

describe('renewal and key attributes', () => {
  it('parses renew-before and reuse-private-key', () => {
    expect(parse({ 'renew-before': '1h30m', 'reuse-private-key': 'TRUE' })).toMatchObject({
      renewBeforeMs: 90 * 60_000,
      reusePrivateKey: true,
    });
  });

  it('refuses a malformed or sub-second renew-before and a non-boolean reuse-private-key', async () => {
    expect(await refused({ 'renew-before': '1 day' })).toContain('"renew-before": "1 day" is not a duration');
    expect(await refused({ 'renew-before': '0s' })).toContain('shorter than the minimum of 1s');
    expect(await refused({ 'reuse-private-key': 'yes' })).toContain('"reuse-private-key": "yes" is neither');
  });

  it('keeps a renew-before longer than the duration (the renewal falls back to a third of the lifetime)', () => {
    expect(parse({ duration: '1h', 'renew-before': '2h' }).renewBeforeMs).toBe(2 * 3600_000);
  });
});

describe('ext-key-usages', () => {
  it('defines the extended usages, and key-usages the basic ones', () => {
    const parsed = parse({ 'key-usages': 'digital signature', 'ext-key-usages': 'Client Auth, 1.3.6.1.5.5.7.3.9' });
    expect(parsed.keyUsages).toEqual({ basic: ['digital signature'], extended: [CLIENT_AUTH, '1.3.6.1.5.5.7.3.9'] });
  });

  it('keeps the default basic usages when only ext-key-usages is set', () => {
    expect(parse({ 'ext-key-usages': 'server auth' }).keyUsages).toEqual({
      basic: ['digital signature', 'key encipherment'],
      extended: [SERVER_AUTH],
    });
  });

  it('refuses an extended usage in key-usages when ext-key-usages is set', async () => {
    const message = await refused({ 'key-usages': 'digital signature, server auth', 'ext-key-usages': 'client auth' });
    expect(message).toContain('"server auth" is an extended usage; with "ext-key-usages" set');
  });

  it('refuses unknown names, malformed OIDs and an empty list', async () => {
    expect(await refused({ 'ext-key-usages': 'world domination' })).toContain('unknown extended usage "world domination"');
    expect(await refused({ 'ext-key-usages': '1.3.6.' })).toContain('unknown extended usage "1.3.6."');
    expect(await refused({ 'ext-key-usages': 'digital signature' })).toContain('unknown extended usage');
    expect(await refused({ 'ext-key-usages': ' , ' })).toContain('"ext-key-usages": lists no usage');
  });
});

describe('PKCS#12 attributes', () => {
  it('enables a keystore named keystore.p12 by default', () => {
    expect(parse({ 'pkcs12-enable': 'true' }).pkcs12).toEqual({ fileName: 'keystore.p12', legacy: false });
    expect(parse({ 'pkcs12-enable': 'true', 'pkcs12-filename': 'app.p12', 'pkcs12-legacy': 'true' }).pkcs12).toEqual({
      fileName: 'app.p12',
      legacy: true,
    });
  });

  it('refuses keystore options without pkcs12-enable', async () => {
    expect(await refused({ 'pkcs12-filename': 'app.p12' })).toContain('"pkcs12-filename" needs "pkcs12-enable: true"');
    expect(await refused({ 'pkcs12-enable': 'false', 'pkcs12-legacy': 'true' })).toContain('"pkcs12-legacy" needs');
  });

  it('refuses a password attribute, pointing to nodePublishSecretRef, without repeating it', async () => {
    const message = await refused({ 'pkcs12-enable': 'true', 'pkcs12-password': 'hunter2' });
    expect(message).toContain('"pkcs12-password"');
    expect(message).toContain('nodePublishSecretRef');
    expect(message).not.toContain('hunter2');
  });

  it('refuses a keystore file name that another file uses', async () => {
    const message = await refused({ 'pkcs12-enable': 'true', 'pkcs12-filename': 'tls.key' });
    expect(message).toContain('"pkcs12-filename" ("tls.key") must name 4 different files');
  });
});
