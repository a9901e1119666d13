/**
 * The PKCS#12 keystore as pods get it from local-ca, read back with the real
 * openssl (and Java's keytool where a JRE is installed): algorithms, the key
 * and certificates inside, and the password that only nodePublishSecretRef
 * may supply.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalCa, expectKeymountError, issue, openssl, pemCertificates, withTempDir, writeVolume } from './helpers.js';
import { generateOpensslCa, generateOpensslIntermediateCa, type IssuedVolume } from './helpers.js';

const PASSWORD = 'correct-horse-battery';
const SECRETS = { 'pkcs12-password': PASSWORD };

interface KeystoreView {
  /** `openssl pkcs12 -info` output: algorithms and MAC. */
  readonly info: string;
  /** The decrypted contents as PEM, each with its bag attributes. */
  readonly pem: string;
  readonly certificates: readonly X509Certificate[];
  readonly privateKeyDer: Buffer;
}

/** What openssl reads from the keystore with the password ("-legacy" only where asked). */
async function readKeystore(volume: IssuedVolume, options: { file?: string; legacyFlag?: boolean } = {}): Promise<KeystoreView> {
  return withTempDir(async (dir) => {
    await writeVolume(dir, volume);
    const file = options.file ?? 'keystore.p12';
    const base = ['pkcs12', '-in', file, '-passin', `pass:${PASSWORD}`, ...(options.legacyFlag === true ? ['-legacy'] : [])];
    const info = await openssl([...base, '-info', '-noout'], dir);
    const pem = await openssl([...base, '-nodes'], dir);
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(pem)?.[0] ?? '';
    return {
      info,
      pem,
      certificates: pemCertificates(pem).map((block) => new X509Certificate(block)),
      privateKeyDer: createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' }),
    };
  });
}

function pkcs8Of(volume: IssuedVolume): Buffer {
  return volume.privateKey.export({ format: 'der', type: 'pkcs8' });
}

describe('local-ca PKCS#12 keystore', () => {
  it('writes keystore.p12 with PBES2/AES-256/SHA-256 that OpenSSL 3 reads without -legacy', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'pkcs12-enable': 'true', 'dns-names': 'web.shop.svc' }, { secrets: SECRETS });

    expect(volume.paths).toEqual(['tls.crt', 'tls.key', 'ca.crt', 'keystore.p12']);
    expect(volume.result.files.every((file) => file.mode === undefined)).toBe(true);
    const keystore = await readKeystore(volume);
    expect(keystore.info).toMatch(/MAC: sha256, Iteration 2048/);
    expect(keystore.info).toMatch(/PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
    expect(keystore.info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);

    // The same key and certificates as the PEM files.
    expect(keystore.privateKeyDer.equals(pkcs8Of(volume))).toBe(true);
    expect(keystore.certificates.map((certificate) => certificate.fingerprint256)).toEqual([
      volume.certificate.fingerprint256,
      volume.caCertificate.fingerprint256,
    ]);
  });

  it('marks the key and its certificate with one localKeyID and the alias "certificate"', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'pkcs12-enable': 'true' }, { secrets: SECRETS });
    const { pem } = await readKeystore(volume);
    const keyIds = [...pem.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((match) => match[1]?.trim());
    expect(keyIds).toHaveLength(2);
    expect(keyIds[0]).toBe(keyIds[1]);
    expect([...pem.matchAll(/friendlyName: (\S+)/g)].map((match) => match[1])).toEqual(['certificate', 'certificate']);
    // Only the leaf is bound to the key; the CA certificate carries no attributes.
    expect(pem.match(/Bag Attributes: <No Attributes>/g)).toHaveLength(1);
  });

  it('writes legacy algorithms (3DES, SHA-1 MAC) for pkcs12-legacy, under the chosen name', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(
      provider,
      { 'pkcs12-enable': 'true', 'pkcs12-legacy': 'true', 'pkcs12-filename': 'app.p12', 'key-algorithm': 'RSA' },
      { secrets: SECRETS },
    );
    expect(volume.paths).toContain('app.p12');
    for (const legacyFlag of [false, true]) {
      const keystore = await readKeystore(volume, { file: 'app.p12', legacyFlag });
      expect(keystore.info).toMatch(/MAC: sha1, Iteration 2048/);
      expect(keystore.info).toMatch(/PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
      expect(keystore.info).toMatch(/Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
      expect(keystore.privateKeyDer.equals(pkcs8Of(volume))).toBe(true);
    }
  });

  it('refuses a wrong password (the MAC is checked)', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'pkcs12-enable': 'true' }, { secrets: SECRETS });
    await withTempDir(async (dir) => {
      await writeVolume(dir, volume);
      await expect(openssl(['pkcs12', '-in', 'keystore.p12', '-passin', 'pass:wrong', '-info', '-noout'], dir)).rejects.toThrow(
        /mac verify failure|invalid password/i,
      );
    });
  });

  it('holds the leaf and an intermediate CA once, although tls.crt and ca.crt both carry it', async () => {
    await withTempDir(async (dir) => {
      const root = await generateOpensslCa(dir);
      const intermediate = await generateOpensslIntermediateCa(dir, root);
      const { provider } = await createLocalCa({ caCertFile: intermediate.certFile, caKeyFile: intermediate.keyFile });
      const volume = await issue(provider, { 'pkcs12-enable': 'true' }, { secrets: SECRETS });
      const keystore = await readKeystore(volume);
      const intermediateCertificate = new X509Certificate(await readFile(intermediate.certFile));
      expect(pemCertificates(volume.file('tls.crt'))).toHaveLength(2);
      expect(keystore.certificates.map((certificate) => certificate.fingerprint256)).toEqual([
        volume.certificate.fingerprint256,
        intermediateCertificate.fingerprint256,
      ]);
    });
  });
});

describe('local-ca PKCS#12 password', () => {
  it('needs the pkcs12-password secret, and issues nothing without it', async () => {
    const { provider, logger } = await createLocalCa();
    for (const secrets of [{}, { password: 'hunter2' }, { 'pkcs12-password': '' }] as Record<string, string>[]) {
      const error = await expectKeymountError(() => issue(provider, { 'pkcs12-enable': 'true' }, { secrets }), 'INVALID_ARGUMENT');
      expect(error.message).toContain('"pkcs12-password"');
      expect(error.message).toContain('nodePublishSecretRef');
      expect(error.message).not.toContain('hunter2');
    }
    expect(logger.records.filter((record) => record.message.includes('issued'))).toEqual([]);
  });

  it('never logs the password', async () => {
    const { provider, logger } = await createLocalCa();
    await issue(provider, { 'pkcs12-enable': 'true' }, { secrets: SECRETS });
    expect(JSON.stringify(logger.records)).not.toContain(PASSWORD);
  });

  it('ignores the secret when no keystore is asked for', async () => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, {}, { secrets: SECRETS });
    expect(volume.paths).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
  });
});

function hasKeytool(): boolean {
  try {
    execFileSync('keytool', ['-help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const KEYTOOL = hasKeytool();

describe.skipIf(!KEYTOOL)(`local-ca PKCS#12 read by Java's keytool (${KEYTOOL ? 'keytool found' : 'skipped: no keytool (install a JRE)'})`, () => {
  it.each([
    ['modern', 'false'],
    ['legacy', 'true'],
  ])('lists the %s keystore as one private key entry with its chain', async (_profile, legacy) => {
    const { provider } = await createLocalCa();
    const volume = await issue(provider, { 'pkcs12-enable': 'true', 'pkcs12-legacy': legacy }, { secrets: SECRETS });
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'keystore.p12'), volume.file('keystore.p12'));
      const listing = execFileSync(
        'keytool',
        ['-list', '-v', '-storetype', 'PKCS12', '-keystore', 'keystore.p12', '-storepass', PASSWORD],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(listing).toMatch(/Your keystore contains 1 entry/);
      expect(listing).toMatch(/Alias name: certificate/);
      expect(listing).toMatch(/Entry type: PrivateKeyEntry/);
      expect(listing).toMatch(/Certificate chain length: 2/);
    });
  });
});
