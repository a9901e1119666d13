/**
 * Issue 11, class 4: a local-ca instance issues exactly what its policy
 * allows. With the default policy a pod gets a CN only when it is one of its
 * own (allowed) DNS names, no O/OU/… it was not granted, only the usual TLS
 * usages, and no certificate shorter than the instance's minimum. Refusals
 * are PERMISSION_DENIED and name the attribute and the setting that would
 * allow it; what is issued is checked in the certificate's bytes.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Provider } from '../../../src/provider/contract.js';
import { x509 } from '../../../providers/x509-common/index.js';
import { POD, createLocalCa, expectKeymountError, issue, type IssuedVolume } from './helpers.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const EMAIL_ADDRESS = '1.2.840.113549.1.9.1';

async function instance(settings: unknown = {}): Promise<Provider> {
  return (await createLocalCa(settings)).provider;
}

async function denied(provider: Provider, attributes: Record<string, string>): Promise<string> {
  const error = await expectKeymountError(() => provider.parseAttributes(attributes, POD), 'PERMISSION_DENIED');
  expect(error.message).toContain('local-ca instance "test-ca"');
  expect(error.message.length).toBeLessThan(500);
  return error.message;
}

/** The issued certificate as @peculiar/x509 reads it: subject attributes by OID, SANs, usages, validity. */
function parsed(volume: IssuedVolume): x509.X509Certificate {
  return new x509.X509Certificate(volume.certificate.raw);
}

function subjectTypes(volume: IssuedVolume): string[] {
  return parsed(volume).subjectName.toJSON().flatMap((rdn) => Object.keys(rdn));
}

function lifetimeMs(certificate: X509Certificate): number {
  return Date.parse(certificate.validTo) - Date.parse(certificate.validFrom);
}

describe('common names under the default policy', () => {
  it('refuses CN=db.shop.svc.cluster.local with O=system:masters and no SAN', async () => {
    const provider = await instance();
    const literal = await denied(provider, { 'literal-subject': 'CN=db.shop.svc.cluster.local,O=system:masters' });
    expect(literal).toContain('attribute "literal-subject": CN "db.shop.svc.cluster.local"');
    expect(literal).toContain('"dns-names"');
    expect(literal).toContain('policy.commonNames');
    const split = await denied(provider, { 'common-name': 'db.shop.svc.cluster.local', organizations: 'system:masters' });
    expect(split).toContain('attribute "common-name"');
  });

  it('refuses the O even when the CN is one of the pod\'s DNS names, naming policy.subjectAttributes', async () => {
    const provider = await instance();
    const message = await denied(provider, {
      'literal-subject': 'CN=db.shop.svc.cluster.local,O=system:masters',
      'dns-names': 'db.shop.svc.cluster.local',
    });
    expect(message).toContain('attribute "literal-subject": O "system:masters" is not allowed');
    expect(message).toContain('policy.subjectAttributes');
    expect(await denied(provider, { 'common-name': 'web.shop.svc', 'dns-names': 'web.shop.svc', organizations: 'system:masters' })).toContain(
      'attribute "organizations": O "system:masters"',
    );
  });

  it('refuses a CN that is not one of the requested DNS names, even one the DNS policy would allow', async () => {
    const provider = await instance();
    expect(await denied(provider, { 'common-name': 'web-0' })).toContain('attribute "common-name": CN "web-0"');
    expect(await denied(provider, { 'common-name': 'api.shop.svc', 'dns-names': 'web.shop.svc' })).toContain('"api.shop.svc"');
  });

  it('issues a CN that is one of the requested DNS names, with exactly the default usages', async () => {
    const provider = await instance();
    const volume = await issue(provider, { 'common-name': 'Web.shop.svc', 'dns-names': 'web.shop.svc' });
    expect(volume.certificate.subject).toBe('CN=Web.shop.svc');
    expect(volume.certificate.subjectAltName).toBe('DNS:web.shop.svc');
    expect(volume.certificate.keyUsage?.sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort());
    const keyUsage = parsed(volume).getExtension(x509.KeyUsagesExtension);
    expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    expect(lifetimeMs(volume.certificate)).toBe(24 * 3600_000 + 60_000);
  });

  it('lets the admin allow other common names with commonNames', async () => {
    const provider = await instance({ policy: { commonNames: ['${POD_NAME}'] } });
    const volume = await issue(provider, { 'literal-subject': 'CN=${POD_NAME}' });
    expect(volume.certificate.subject).toBe('CN=web-0');
    expect(await denied(provider, { 'common-name': 'admin' })).toContain('"admin"');
  });
});

describe('subject attributes', () => {
  it('refuses O, OU, C, UID, DC and unknown OIDs unless the policy names them', async () => {
    const provider = await instance();
    const cases: readonly [string, string][] = [
      ['OU=Payments', 'OU "Payments"'],
      ['C=DE', 'C "DE"'],
      ['UID=root', 'UID "root"'],
      ['DC=example,DC=com', 'DC "'],
      ['1.3.6.1.4.1.99999.1=x', '1.3.6.1.4.1.99999.1 "x"'],
      ['2.5.4.010=system:masters', ''],
    ];
    for (const [subject, expected] of cases) {
      if (expected === '') {
        await expectKeymountError(() => provider.parseAttributes({ 'literal-subject': subject }, POD), 'INVALID_ARGUMENT');
        continue;
      }
      const message = await denied(provider, { 'literal-subject': subject });
      expect(message).toContain(expected);
      expect(message).toContain('policy.subjectAttributes');
    }
  });

  it('issues the subject attributes and values the admin allows, and nothing else', async () => {
    const provider = await instance({ policy: { subjectAttributes: { O: ['Example'], OU: ['*'], C: ['DE', 'FR'], '1.3.6.1.4.1.99999.1': ['${POD_NAMESPACE}'] } } });
    const volume = await issue(provider, { 'literal-subject': 'OU=Payments+OU=EU,O=Example,C=DE,1.3.6.1.4.1.99999.1=shop' });
    expect(subjectTypes(volume)).toEqual(['1.3.6.1.4.1.99999.1', 'C', 'O', 'OU']);
    expect(parsed(volume).subject).toBe('1.3.6.1.4.1.99999.1=shop, C=DE, O=Example, OU=Payments+OU=EU');
    expect(await denied(provider, { 'literal-subject': 'O=Other' })).toContain('O "Other"');
    expect(await denied(provider, { 'literal-subject': 'C=US' })).toContain('C "US"');
    expect(await denied(provider, { 'literal-subject': '1.3.6.1.4.1.99999.1=bank' })).toContain('"bank"');
    expect(await denied(provider, { 'literal-subject': 'ST=Berlin' })).toContain('ST "Berlin"');
  });

  it('checks an emailAddress in the subject, by name or by OID, against emailSans', async () => {
    const provider = await instance();
    for (const subject of [`${EMAIL_ADDRESS}=ceo@bank.example`, 'emailAddress=ceo@bank.example']) {
      const message = await denied(provider, { 'literal-subject': subject });
      expect(message).toContain('"ceo@bank.example"');
      expect(message).toContain('policy.emailSans');
    }
    const allowing = await instance({ policy: { emailSans: ['*@shop.example'] } });
    await denied(allowing, { 'literal-subject': `${EMAIL_ADDRESS}=ceo@bank.example` });
    const volume = await issue(allowing, { 'literal-subject': `${EMAIL_ADDRESS}=ops@shop.example` });
    expect(subjectTypes(volume)).toEqual(['E']);
    expect(parsed(volume).subject).toBe('E=ops@shop.example');
  });

  it('refuses CN and emailAddress as subjectAttributes keys, pointing to their own settings', async () => {
    await expect(instance({ policy: { subjectAttributes: { CN: ['*'] } } })).rejects.toThrow(/policy\.subjectAttributes\.CN.*commonNames/);
    await expect(instance({ policy: { subjectAttributes: { emailAddress: ['*'] } } })).rejects.toThrow(/emailSans/);
    await expect(instance({ policy: { subjectAttributes: { XX: ['*'] } } })).rejects.toThrow(/policy\.subjectAttributes\.XX/);
    await expect(instance({ policy: { subjectAttributes: { '2.5.4.011': ['*'] } } })).rejects.toThrow(/leading zero/);
  });
});

describe('key usages', () => {
  it('refuses OCSP signing, code signing and anyExtendedKeyUsage by default, naming policy.allowedKeyUsages', async () => {
    const provider = await instance();
    const cases: readonly [Record<string, string>, string][] = [
      [{ 'ext-key-usages': 'ocsp signing' }, '"ocsp signing"'],
      [{ 'ext-key-usages': 'server auth, code signing' }, '"code signing"'],
      [{ 'key-usages': 'digital signature, code signing' }, '"code signing"'],
      [{ 'ext-key-usages': '2.5.29.37.0' }, '"2.5.29.37.0"'],
      [{ 'ext-key-usages': '1.3.6.1.5.5.7.3.9' }, '"ocsp signing" (1.3.6.1.5.5.7.3.9)'],
      [{ 'key-usages': 'content commitment' }, '"content commitment"'],
    ];
    for (const [attributes, expected] of cases) {
      const message = await denied(provider, attributes);
      expect(message).toContain(expected);
      expect(message).toContain('policy.allowedKeyUsages');
    }
  });

  it('issues a usage the admin allows', async () => {
    const provider = await instance({ policy: { allowedKeyUsages: ['digital signature', 'code signing'] } });
    const volume = await issue(provider, { 'key-usages': 'digital signature', 'ext-key-usages': 'code signing' });
    expect(volume.certificate.keyUsage).toEqual([CODE_SIGNING]);
    expect(parsed(volume).getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    // The defaults (key encipherment, server auth) are not in this list any more.
    expect(await denied(provider, { 'ext-key-usages': 'server auth' })).toContain('"server auth"');
  });

  it('refuses unknown names in allowedKeyUsages at start-up', async () => {
    await expect(instance({ policy: { allowedKeyUsages: ['every usage'] } })).rejects.toThrow(/policy\.allowedKeyUsages\[0\]/);
  });
});

describe('minimum duration', () => {
  it('refuses a certificate shorter than one hour by default, naming policy.minDuration', async () => {
    const provider = await instance();
    for (const duration of ['2s', '59m']) {
      const message = await denied(provider, { duration });
      expect(message).toContain(`attribute "duration": "${duration}"`);
      expect(message).toContain('minimum 1h');
      expect(message).toContain('policy.minDuration');
    }
  });

  it('issues a short certificate where the admin lowered the minimum', async () => {
    const provider = await instance({ policy: { minDuration: '5m' } });
    const volume = await issue(provider, { duration: '10m' });
    expect(lifetimeMs(volume.certificate)).toBe(11 * 60_000);
    await denied(provider, { duration: '4m' });
  });

  it('refuses a minDuration over maxDuration at start-up', async () => {
    await expect(instance({ policy: { minDuration: '48h' } })).rejects.toThrow(/policy\.minDuration/);
  });
});
