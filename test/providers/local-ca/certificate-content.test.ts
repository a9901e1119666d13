/**
 * What the attributes of issue 5 put into issued certificates, as openssl
 * and node's X509Certificate show them.
 */
import { describe, expect, it } from 'vitest';
import { createLocalCa, issue, openssl, withTempDir, writeVolume, type IssuedVolume } from './helpers.js';

/** openssl x509 output for the issued certificate: the subject in RFC 2253 order, or extensions. */
async function opensslX509(volume: IssuedVolume, args: readonly string[]): Promise<string> {
  return withTempDir(async (dir) => {
    await writeVolume(dir, volume);
    return openssl(['x509', '-in', 'tls.crt', '-noout', ...args], dir);
  });
}

describe('local-ca subjects', () => {
  it('puts organizations and the common name into the subject', async () => {
    const { provider } = await createLocalCa({ policy: { commonNames: ['${POD_NAME}'], subjectAttributes: { O: ['Example', 'Shop Team'] } } });
    const volume = await issue(provider, { 'common-name': '${POD_NAME}', organizations: 'Example, Shop Team' });
    expect(volume.certificate.subject).toBe('O=Example\nO=Shop Team\nCN=web-0');
    expect((await opensslX509(volume, ['-subject', '-nameopt', 'RFC2253'])).trim()).toBe('subject=CN=web-0,O=Shop Team,O=Example');
  });

  it('writes a literal subject as the pod wrote it', async () => {
    const { provider } = await createLocalCa({
      policy: { commonNames: ['${POD_NAME}'], subjectAttributes: { OU: ['*'], O: ['Example, Inc.'], C: ['DE'] } },
    });
    const volume = await issue(provider, { 'literal-subject': 'CN=${POD_NAME},OU=Payments,O=Example\\, Inc.,C=DE' });
    expect((await opensslX509(volume, ['-subject', '-nameopt', 'RFC2253'])).trim()).toBe(
      'subject=CN=web-0,OU=Payments,O=Example\\, Inc.,C=DE',
    );
    // The CN is a name: the pod gets no default SPIFFE ID, so the certificate has no subjectAltName.
    expect(volume.certificate.subjectAltName).toBeUndefined();
  });
});

describe('local-ca SANs and usages', () => {
  it('issues email SANs the policy allows', async () => {
    const { provider } = await createLocalCa({ policy: { emailSans: ['*@example.com'] } });
    const volume = await issue(provider, { 'email-sans': 'web@example.com', 'dns-names': 'web.shop.svc' });
    expect(volume.certificate.subjectAltName).toBe('DNS:web.shop.svc, email:web@example.com');
  });

  it('takes the extended usages from ext-key-usages and the basic ones from key-usages', async () => {
    const { provider } = await createLocalCa({ policy: { allowedKeyUsages: ['digital signature', 'client auth', 'ocsp signing'] } });
    const volume = await issue(provider, {
      'key-usages': 'digital signature',
      'ext-key-usages': 'client auth, 1.3.6.1.5.5.7.3.9',
    });
    const printed = await opensslX509(volume, ['-ext', 'keyUsage,extendedKeyUsage']);
    expect(printed).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(printed).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication, OCSP Signing\n/);
  });

  it('keeps the default basic usages when only ext-key-usages is set', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'ext-key-usages': 'server auth' });
    const printed = await opensslX509(volume, ['-ext', 'keyUsage,extendedKeyUsage']);
    expect(printed).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(printed).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication\n/);
  });

  it('issues ECDSA P-521 keys for key-size 521', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'key-size': '521' });
    expect(volume.privateKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    expect(volume.certificate.checkPrivateKey(volume.privateKey)).toBe(true);
  });
});
