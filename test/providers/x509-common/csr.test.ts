/**
 * CSRs as a remote CA (vault-pki) receives them, checked with openssl: the
 * signature by the node's key, the subject as RFC 4514 writes it, the SANs
 * and usages as requested extensions.
 */
import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createCsr,
  generateKeyPair,
  parseCertificateAttributes,
  type CertificateAttributes,
  type KeySpec,
} from '../../../providers/x509-common/index.js';
import { POD, openssl, withTempDir } from '../local-ca/helpers.js';

interface PrintedCsr {
  readonly text: string;
  readonly subject: string;
  readonly publicKeyPem: string;
}

/** openssl's view of the CSR: verified self-signature, subject in RFC 2253 order, full text, public key. */
async function opensslCsr(attributes: CertificateAttributes, spec: KeySpec = attributes.key): Promise<PrintedCsr & { keyPem: string }> {
  const keyPair = await generateKeyPair(spec);
  const csr = await createCsr(attributes, keyPair);
  expect(csr.pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'request.csr'), csr.pem);
    const text = await openssl(['req', '-in', 'request.csr', '-noout', '-verify', '-text'], dir);
    expect(text).toMatch(/verify OK/);
    const subject = await openssl(['req', '-in', 'request.csr', '-noout', '-subject', '-nameopt', 'RFC2253'], dir);
    const publicKeyPem = await openssl(['req', '-in', 'request.csr', '-noout', '-pubkey'], dir);
    const keyPem = keyPair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    return { text, subject: subject.trim(), publicKeyPem, keyPem };
  });
}

function attributes(values: Record<string, string>): CertificateAttributes {
  return parseCertificateAttributes(values, POD);
}

describe('createCsr', () => {
  it.each<[string, Record<string, string>]>([
    ['ECDSA P-384', { 'key-algorithm': 'ECDSA', 'key-size': '384' }],
    ['RSA 2048', { 'key-algorithm': 'RSA' }],
    ['Ed25519', { 'key-algorithm': 'Ed25519' }],
  ])('is signed by the node\'s %s key and carries its public key', async (_name, keyAttributes) => {
    const parsed = attributes({ 'common-name': 'web', ...keyAttributes });
    const printed = await opensslCsr(parsed);
    const fromCsr = createPublicKey(printed.publicKeyPem).export({ format: 'der', type: 'spki' });
    const fromKey = createPublicKey(printed.keyPem).export({ format: 'der', type: 'spki' });
    expect(fromCsr.equals(fromKey)).toBe(true);
    expect(printed.subject).toBe('subject=CN=web');
  });

  it('asks for every SAN kind, the usages and no CA', async () => {
    const parsed = attributes({
      'common-name': 'web',
      organizations: 'Example',
      'dns-names': 'web.shop.svc',
      'ip-sans': '10.1.2.3',
      'uri-sans': 'spiffe://cluster.local/ns/shop/sa/web',
      'email-sans': 'web@example.com',
      'key-usages': 'digital signature',
      'ext-key-usages': 'client auth',
    });
    const { text, subject } = await opensslCsr(parsed);
    expect(subject).toBe('subject=CN=web,O=Example');
    expect(text).toMatch(/Requested Extensions:/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(text).toMatch(
      /Subject Alternative Name:\s*\n\s+DNS:web\.shop\.svc, IP Address:10\.1\.2\.3, URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web, email:web@example\.com/,
    );
  });

  it('writes a literal subject so that openssl prints it back as written', async () => {
    const written = 'CN=app,OU=Payments,O=Example\\, Inc.,C=DE';
    const { subject } = await opensslCsr(attributes({ 'literal-subject': written }));
    expect(subject).toBe(`subject=${written}`);
  });

  it('decodes hex escapes as UTF-8 and tolerates spaces around separators', async () => {
    const { subject } = await opensslCsr(attributes({ 'literal-subject': ' CN = M\\C3\\BCller ,  O=Ex\\#1 ' }));
    // openssl escapes non-ASCII in RFC 2253 output; the bytes are the UTF-8 of "Müller".
    expect(subject).toBe('subject=CN=M\\C3\\BCller,O=Ex#1');
  });

  it('marks subjectAltName critical when the subject is empty', async () => {
    const { text } = await opensslCsr(attributes({ 'dns-names': 'web.shop.svc' }));
    expect(text).toMatch(/Subject: *\n/);
    expect(text).toMatch(/Subject Alternative Name: critical/);
  });
});
