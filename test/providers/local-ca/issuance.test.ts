import { describe, expect, it } from 'vitest';
import {
  POD,
  createLocalCa,
  expectKeymountError,
  issue,
  openssl,
  pemCertificates,
  withTempDir,
  writeVolume,
  type IssuedVolume,
} from './helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The certificate's extensions as openssl prints them. */
async function opensslExtensions(volume: IssuedVolume, names: string): Promise<string> {
  return withTempDir(async (dir) => {
    await writeVolume(dir, volume);
    return openssl(['x509', '-in', 'tls.crt', '-noout', '-ext', names], dir);
  });
}

describe('local-ca issuance with defaults', () => {
  it('issues an ECDSA P-256 key in PKCS#8 and a certificate for the pod\'s SPIFFE ID', async () => {
    const { provider, clock } = await createLocalCa();
    const volume = await issue(provider);

    expect(volume.paths).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
    expect(volume.result.files.every((file) => file.mode === undefined)).toBe(true);
    expect(volume.file('tls.key').toString()).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(volume.privateKey.asymmetricKeyType).toBe('ec');
    expect(volume.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const { certificate } = volume;
    expect(certificate.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/web');
    // node reports an empty subject as undefined
    expect(certificate.subject ?? '').toBe('');
    expect(certificate.ca).toBe(false);
    expect(certificate.checkPrivateKey(volume.privateKey)).toBe(true);
    expect(certificate.verify(volume.caCertificate.publicKey)).toBe(true);
    expect(certificate.checkIssued(volume.caCertificate)).toBe(true);

    const now = clock.now().getTime();
    expect(new Date(certificate.validFrom).getTime()).toBe(now - MINUTE);
    expect(new Date(certificate.validTo).getTime()).toBe(now + 24 * HOUR);
    expect(volume.result.notAfter?.getTime()).toBe(now + 24 * HOUR);
    expect(volume.result.versions).toEqual({ certificate: certificate.serialNumber });
  });

  it('uses a generated development CA, and only the leaf goes into tls.crt', async () => {
    const { provider, logger } = await createLocalCa({}, undefined, 'dev');
    const volume = await issue(provider);

    expect(volume.caCertificate.subject).toBe('CN=keymount development CA (dev)');
    expect(volume.caCertificate.ca).toBe(true);
    expect(pemCertificates(volume.file('tls.crt'))).toHaveLength(1);
    const warnings = logger.records.filter((record) => record.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/development/);
  });

  it('passes openssl verify and openssl pkey', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'dns-names': 'web.shop.svc' });
    await withTempDir(async (dir) => {
      await writeVolume(dir, volume);
      await expect(openssl(['verify', '-CAfile', 'ca.crt', 'tls.crt'], dir)).resolves.toMatch(/tls\.crt: OK/);
      await expect(openssl(['pkey', '-in', 'tls.key', '-noout'], dir)).resolves.toBe('');
    });
  });

  it('sets critical basicConstraints and keyUsage and the default extended usages', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'dns-names': 'web.shop.svc' });

    const printed = await opensslExtensions(volume, 'basicConstraints,keyUsage,extendedKeyUsage');
    expect(printed).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(printed).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(printed).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  it('marks subjectAltName critical when the subject is empty, as RFC 5280 requires', async () => {
    const { provider } = await createLocalCa();
    const withoutName = await opensslExtensions(await issue(provider), 'subjectAltName');
    const named = await issue(provider, { 'common-name': 'web.shop.svc', 'dns-names': 'web.shop.svc' });
    const withName = await opensslExtensions(named, 'subjectAltName');
    expect(withoutName).toMatch(/Subject Alternative Name: critical/);
    expect(withName).toMatch(/Subject Alternative Name:\s*\n/);
  });

  it('links the certificate to the CA through key identifiers', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider);
    const leaf = await opensslExtensions(volume, 'subjectKeyIdentifier,authorityKeyIdentifier');
    const caKeyId = await withTempDir(async (dir) => {
      await writeVolume(dir, volume);
      return openssl(['x509', '-in', 'ca.crt', '-noout', '-ext', 'subjectKeyIdentifier'], dir);
    });
    const caId = /([0-9A-F]{2}(?::[0-9A-F]{2}){19})/.exec(caKeyId)?.[1];
    expect(caId).toBeDefined();
    expect(leaf).toMatch(new RegExp(`Authority Key Identifier:\\s+(?:keyid:)?${caId ?? 'missing'}`));
    expect(leaf).toMatch(/Subject Key Identifier:\s+[0-9A-F]{2}:/);
  });

  it('issues a new key and serial on every fetch', async () => {
    const { provider } = await createLocalCa();
    const first = await issue(provider);
    const second = await issue(provider);
    expect(second.certificate.serialNumber).not.toBe(first.certificate.serialNumber);
    expect(second.file('tls.key').equals(first.file('tls.key'))).toBe(false);
    expect(first.certificate.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
  });
});

describe('local-ca key algorithms', () => {
  it('issues RSA 2048 keys in PKCS#1 when asked', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'key-algorithm': 'rsa', 'key-encoding': 'PKCS1', 'dns-names': 'api.shop.svc' });

    expect(volume.file('tls.key').toString()).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(volume.privateKey.asymmetricKeyType).toBe('rsa');
    expect(volume.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(volume.certificate.checkPrivateKey(volume.privateKey)).toBe(true);
    await withTempDir(async (dir) => {
      await writeVolume(dir, volume);
      await expect(openssl(['verify', '-CAfile', 'ca.crt', 'tls.crt'], dir)).resolves.toMatch(/OK/);
      await expect(openssl(['rsa', '-in', 'tls.key', '-check', '-noout'], dir)).resolves.toMatch(/RSA key ok/);
    });
  });

  it('issues RSA keys in PKCS#8 by default', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'key-algorithm': 'RSA', 'key-size': '3072' });
    expect(volume.file('tls.key').toString()).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(volume.privateKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it('issues Ed25519 keys', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'key-algorithm': 'Ed25519' });
    expect(volume.privateKey.asymmetricKeyType).toBe('ed25519');
    expect(volume.certificate.checkPrivateKey(volume.privateKey)).toBe(true);
    await withTempDir(async (dir) => {
      await writeVolume(dir, volume);
      await expect(openssl(['verify', '-CAfile', 'ca.crt', 'tls.crt'], dir)).resolves.toMatch(/OK/);
      await expect(openssl(['pkey', '-in', 'tls.key', '-noout'], dir)).resolves.toBe('');
    });
  });

  it('issues ECDSA P-384 keys for key-size 384', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'key-algorithm': 'ECDSA', 'key-size': '384' });
    expect(volume.privateKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
  });
});

describe('local-ca names and options', () => {
  it('expands template variables in the common name and SANs', async () => {
    const { provider } = await createLocalCa({
      policy: { uriSans: ['spiffe://cluster.local/ns/${POD_NAMESPACE}/pod/*'], commonNames: ['${POD_NAME}.${POD_NAMESPACE}'] },
    });
    const volume = await issue(provider, {
      'common-name': '${POD_NAME}.${POD_NAMESPACE}',
      'dns-names': '${POD_NAME}.${POD_NAMESPACE}.svc, ${SERVICE_ACCOUNT_NAME}.${POD_NAMESPACE}.svc.cluster.local',
      'uri-sans': 'spiffe://cluster.local/ns/${POD_NAMESPACE}/pod/${POD_UID}',
    });
    expect(volume.certificate.subject).toBe('CN=web-0.shop');
    expect(volume.certificate.subjectAltName).toBe(
      `DNS:web-0.shop.svc, DNS:web.shop.svc.cluster.local, URI:spiffe://cluster.local/ns/shop/pod/${POD.uid}`,
    );
  });

  it('writes the files under the names the pod chose', async () => {
    const { provider } = await createLocalCa();
    const fileNames = { certificate: 'cert.pem', privateKey: 'key.pem', ca: 'root.pem' };
    const volume = await issue(
      provider,
      { 'certificate-file': 'cert.pem', 'privatekey-file': 'key.pem', 'ca-file': 'root.pem' },
      { fileNames },
    );
    expect(volume.paths).toEqual(['cert.pem', 'key.pem', 'root.pem']);
    expect(volume.certificate.checkPrivateKey(volume.privateKey)).toBe(true);
  });

  it('issues the requested duration', async () => {
    const { provider, clock } = await createLocalCa();
    const volume = await issue(provider, { duration: '1h30m' });
    expect(new Date(volume.certificate.validTo).getTime()).toBe(clock.now().getTime() + 90 * MINUTE);
  });

  it('puts only the requested key usages in the certificate', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'key-usages': 'Digital Signature, client auth' });
    const printed = await opensslExtensions(volume, 'keyUsage,extendedKeyUsage');
    expect(printed).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(printed).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(printed).not.toMatch(/Key Encipherment|Server Authentication/);
  });

  it('issues CA certificates with cert sign when the policy allows is-ca', async () => {
    const { provider } = await createLocalCa({ policy: { allowIsCA: true } });
    const volume = await issue(provider, { 'is-ca': 'true', 'key-usages': 'digital signature' });
    expect(volume.certificate.ca).toBe(true);
    const printed = await opensslExtensions(volume, 'basicConstraints,keyUsage');
    expect(printed).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(printed).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign/);
  });

  it('issues IP SANs inside the ranges the admin allows', async () => {
    const { provider } = await createLocalCa({ policy: { ipSans: ['10.0.0.0/8', '::1'] } });
    const volume = await issue(provider, { 'ip-sans': '10.1.2.3, ::1' });
    expect(volume.certificate.subjectAltName).toBe('IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1');
  });
});

describe('local-ca validity limits', () => {
  it('never outlives the CA', async () => {
    const { provider, clock } = await createLocalCa({ policy: { maxDuration: '10000h' } });
    const volume = await issue(provider, { duration: '9999h' });
    const caNotAfter = new Date(volume.caCertificate.validTo).getTime();
    expect(caNotAfter).toBeLessThan(clock.now().getTime() + 9999 * HOUR);
    expect(new Date(volume.certificate.validTo).getTime()).toBe(caNotAfter);
    expect(volume.result.notAfter?.getTime()).toBe(caNotAfter);
  });

  it('refuses to issue once the CA has expired', async () => {
    const { provider, clock } = await createLocalCa();
    clock.advance(366 * 24 * HOUR);
    const error = await expectKeymountError(() => issue(provider), 'FAILED_PRECONDITION');
    expect(error.message).toMatch(/CA certificate of local-ca instance "test-ca" expired/);
  });

  it('does no work when the request is already aborted', async () => {
    const { provider, logger } = await createLocalCa();
    const controller = new AbortController();
    controller.abort(new Error('deadline passed'));
    await expect(issue(provider, {}, { signal: controller.signal })).rejects.toThrow('deadline passed');
    expect(logger.records.filter((record) => record.message.includes('issued'))).toEqual([]);
  });
});

describe('local-ca logging', () => {
  it('logs the issued serial and names at debug, never key material', async () => {
    const { provider, logger } = await createLocalCa();
    const volume = await issue(provider, { 'dns-names': 'web.shop.svc' });
    const issued = logger.records.find((record) => record.message.includes('issued'));
    expect(issued?.level).toBe('debug');
    expect(issued?.fields).toMatchObject({ serialNumber: volume.certificate.serialNumber, dnsNames: ['web.shop.svc'] });
    const logged = JSON.stringify(logger.records);
    const keyBody = volume.file('tls.key').toString().split('\n')[1] ?? 'missing';
    expect(logged).not.toContain(keyBody);
    expect(logged).not.toContain('PRIVATE KEY');
  });
});
