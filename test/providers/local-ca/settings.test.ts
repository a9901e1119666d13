import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localCaProviderType } from '../../../providers/local-ca/index.js';
import {
  FakeClock,
  RecordingLogger,
  createLocalCa,
  generateOpensslCa,
  generateOpensslIntermediateCa,
  issue,
  openssl,
  pemCertificates,
  withTempDir,
  writeVolume,
  type CaKeyFormat,
} from './helpers.js';

const DAY = 24 * 60 * 60_000;

async function createError(settings: unknown, clock = new FakeClock()): Promise<Error> {
  const creation = localCaProviderType.create('admin-ca', settings, { clock, logger: new RecordingLogger() });
  return creation.then(
    () => {
      throw new Error('create() accepted the settings');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(Error);
      return error as Error;
    },
  );
}

describe('local-ca settings validation', () => {
  it('refuses an unknown setting, naming it', async () => {
    const error = await createError({ trustDomian: 'example.org' });
    expect(error.message).toContain('local-ca instance "admin-ca"');
    expect(error.message).toContain('unknown setting "trustDomian"');
  });

  it('refuses an unknown policy setting with its full path', async () => {
    const error = await createError({ policy: { dnsName: ['*.svc'] } });
    expect(error.message).toContain('unknown setting "policy.dnsName"');
  });

  it('refuses a CA certificate without its key', async () => {
    const error = await createError({ caCertFile: '/etc/keymount/ca.crt' });
    expect(error.message).toMatch(/caCertFile and caKeyFile must be set together/);
  });

  it('refuses a malformed or too short maxDuration', async () => {
    expect((await createError({ policy: { maxDuration: 'forever' } })).message).toContain('policy.maxDuration');
    expect((await createError({ policy: { maxDuration: '30s' } })).message).toContain('policy.maxDuration');
  });

  it('refuses unknown variables in policy patterns, naming the entry', async () => {
    const error = await createError({ policy: { dnsNames: ['*.svc', '${NAMESPACE}.svc'] } });
    expect(error.message).toContain('policy.dnsNames[1]');
    expect(error.message).toContain('${NAMESPACE}');
  });

  it('refuses unknown variables in emailSans patterns, naming the entry', async () => {
    const error = await createError({ policy: { emailSans: ['${POD_EMAIL}'] } });
    expect(error.message).toContain('policy.emailSans[0]');
  });

  it('refuses IP SAN entries that are neither addresses nor CIDR ranges', async () => {
    for (const entry of ['10.0.0.0/33', 'localhost', '10.0.0.0/8/1', '::/129']) {
      const error = await createError({ policy: { ipSans: [entry] } });
      expect(error.message).toContain(`policy.ipSans[0]: "${entry}"`);
    }
  });

  it('refuses wrongly typed settings', async () => {
    expect((await createError({ policy: { allowIsCA: 'yes' } })).message).toContain('policy.allowIsCA');
    expect((await createError('not an object')).message).toContain('invalid settings');
  });

  it('accepts no settings at all', async () => {
    await expect(localCaProviderType.create('dev', undefined, { clock: new FakeClock(), logger: new RecordingLogger() }))
      .resolves.toMatchObject({ type: 'local-ca' });
  });
});

describe('local-ca with an admin-supplied CA', () => {
  it.each<[CaKeyFormat, string]>([
    ['sec1', 'EC PRIVATE KEY'],
    ['pkcs1', 'RSA PRIVATE KEY'],
    ['pkcs8', 'PRIVATE KEY'],
  ])('signs with a CA whose key is in %s PEM', async (keyFormat, pemLabel) => {
    await withTempDir(async (dir) => {
      const ca = await generateOpensslCa(dir, { keyFormat });
      expect((await readFile(ca.keyFile, 'utf8')).startsWith(`-----BEGIN ${pemLabel}-----`)).toBe(true);
      const { provider, logger } = await createLocalCa({ caCertFile: ca.certFile, caKeyFile: ca.keyFile });
      const volume = await issue(provider, { 'dns-names': 'web.shop.svc' });

      expect(volume.file('ca.crt').toString()).toBe(await readFile(ca.certFile, 'utf8'));
      expect(volume.certificate.issuer).toBe('C=DE\nO=Keymount Test\nCN=Test root CA');
      expect(pemCertificates(volume.file('tls.crt'))).toHaveLength(1);
      expect(logger.records.filter((record) => record.level === 'warn')).toEqual([]);
      await writeVolume(dir, volume);
      await expect(openssl(['verify', '-CAfile', ca.certFile, 'tls.crt'], dir)).resolves.toMatch(/tls\.crt: OK/);
    });
  });

  it('appends an intermediate CA to the certificate file', async () => {
    await withTempDir(async (dir) => {
      const root = await generateOpensslCa(dir);
      const intermediate = await generateOpensslIntermediateCa(dir, root);
      const { provider } = await createLocalCa({ caCertFile: intermediate.certFile, caKeyFile: intermediate.keyFile });
      const volume = await issue(provider);

      const chain = pemCertificates(volume.file('tls.crt'));
      expect(chain).toHaveLength(2);
      expect(chain[1]).toBe(await readFile(intermediate.certFile, 'utf8'));
      expect(volume.file('ca.crt').toString()).toBe(await readFile(intermediate.certFile, 'utf8'));
      await writeVolume(dir, volume);
      // A client that trusts only the root can verify with the chain the pod presents.
      await writeFile(join(dir, 'chain-tail.crt'), chain[1] ?? '');
      await expect(openssl(['verify', '-CAfile', root.certFile, '-untrusted', 'chain-tail.crt', 'tls.crt'], dir)).resolves.toMatch(
        /tls\.crt: OK/,
      );
    });
  });

  it('clamps the certificate to the CA\'s notAfter', async () => {
    await withTempDir(async (dir) => {
      const ca = await generateOpensslCa(dir, { days: 1 });
      const { provider } = await createLocalCa({ caCertFile: ca.certFile, caKeyFile: ca.keyFile, policy: { maxDuration: '72h' } });
      const volume = await issue(provider, { duration: '48h' });
      const caNotAfter = new Date(volume.caCertificate.validTo).getTime();
      expect(new Date(volume.certificate.validTo).getTime()).toBe(caNotAfter);
      expect(volume.result.notAfter?.getTime()).toBe(caNotAfter);
    });
  });

  it('refuses a key that does not belong to the certificate', async () => {
    await withTempDir(async (dir) => {
      const first = await generateOpensslCa(dir, { name: 'first' });
      const second = await generateOpensslCa(dir, { name: 'second' });
      const error = await createError({ caCertFile: first.certFile, caKeyFile: second.keyFile });
      expect(error.message).toContain(`caKeyFile "${second.keyFile}" is not the private key of the certificate`);
    });
  });

  it('refuses a certificate that is not a CA', async () => {
    await withTempDir(async (dir) => {
      const notCa = await generateOpensslCa(dir, { isCA: false });
      const error = await createError({ caCertFile: notCa.certFile, caKeyFile: notCa.keyFile });
      expect(error.message).toContain('is not a CA certificate');
    });
  });

  it('refuses an expired CA', async () => {
    await withTempDir(async (dir) => {
      const ca = await generateOpensslCa(dir, { days: 1 });
      const later = new FakeClock();
      later.advance(2 * DAY);
      const error = await createError({ caCertFile: ca.certFile, caKeyFile: ca.keyFile }, later);
      expect(error.message).toContain('expired');
    });
  });

  it('refuses missing files and files that hold no PEM', async () => {
    await withTempDir(async (dir) => {
      const ca = await generateOpensslCa(dir);
      const missing = await createError({ caCertFile: join(dir, 'nope.crt'), caKeyFile: ca.keyFile });
      expect(missing.message).toContain('caCertFile');
      expect(missing.message).toContain('cannot be read');
      const garbage = join(dir, 'garbage.pem');
      await writeFile(garbage, 'hello\n');
      const badKey = await createError({ caCertFile: ca.certFile, caKeyFile: garbage });
      expect(badKey.message).toContain(`caKeyFile "${garbage}"`);
      const badCert = await createError({ caCertFile: garbage, caKeyFile: ca.keyFile });
      expect(badCert.message).toContain(`caCertFile "${garbage}" must hold exactly one PEM certificate, found 0`);
    });
  });
});
