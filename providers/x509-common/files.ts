/**
 * The files of a certificate volume: certificate chain, private key, CA
 * certificate and, when asked for, a PKCS#12 keystore. Modes are left to the
 * core's fileMode (a pod that wants tls.key tighter sets fileMode).
 */
import { X509Certificate } from 'node:crypto';
import { Sensitive, invalidArgument, type ProviderFile } from '../../src/provider/contract.js';
import { PKCS12_PASSWORD_SECRET_KEY } from './attribute-names.js';
import type { CertificateAttributes } from './attributes.js';
import { encodePrivateKeyPem, type NodeKeyPair } from './keys.js';
import { encodePkcs12 } from './pkcs12/pfx.js';
import { certificateWork, type WorkContext } from './work-pool.js';

/** The alias of the key entry in the PKCS#12 keystore. */
export const PKCS12_KEY_ALIAS = 'certificate';

export interface IssuedMaterial {
  /** PEM: the leaf first, then any intermediates, as tls.crt holds them. */
  readonly chainPem: string;
  /** PEM: the CA certificate(s) for ca.crt. */
  readonly caPem: string;
  readonly keyPair: NodeKeyPair;
}

/**
 * The keystore password from the request's secrets (nodePublishSecretRef),
 * undefined when no keystore is asked for. Call it before issuing, so a
 * missing secret costs no certificate. Throws INVALID_ARGUMENT without ever
 * quoting a secret.
 */
export function pkcs12Password(
  attributes: Pick<CertificateAttributes, 'pkcs12'>,
  secrets: Sensitive<Readonly<Record<string, string>>>,
): Sensitive<string> | undefined {
  if (attributes.pkcs12 === undefined) return undefined;
  const revealed = secrets.reveal();
  const password = Object.hasOwn(revealed, PKCS12_PASSWORD_SECRET_KEY) ? revealed[PKCS12_PASSWORD_SECRET_KEY] : undefined;
  if (password === undefined || password === '') {
    throw invalidArgument(
      `"pkcs12-enable: true" needs the keystore password: put it in a Secret under the key "${PKCS12_PASSWORD_SECRET_KEY}" ` +
        `and reference that Secret as the volume's nodePublishSecretRef${password === '' ? ' (the key is there but empty)' : ''}`,
    );
  }
  return new Sensitive(password);
}

export async function certificateFiles(
  attributes: Pick<CertificateAttributes, 'fileNames' | 'keyEncoding' | 'pkcs12'>,
  material: IssuedMaterial,
  password: Sensitive<string> | undefined,
  work: WorkContext = { tenant: '' },
): Promise<ProviderFile[]> {
  const { fileNames, pkcs12 } = attributes;
  const files: ProviderFile[] = [
    { path: fileNames.certificate, contents: Buffer.from(material.chainPem) },
    { path: fileNames.privateKey, contents: encodePrivateKeyPem(material.keyPair.privateKey, attributes.keyEncoding) },
    { path: fileNames.ca, contents: Buffer.from(material.caPem) },
  ];
  if (pkcs12 === undefined) return files;
  if (password === undefined) throw new Error('certificateFiles: a PKCS#12 keystore needs pkcs12Password() first');
  // Key derivation (partly in JavaScript) and encryption: the tenant's turn in the signing queue.
  const keystore = await certificateWork.signing.run(work, () =>
    encodePkcs12(
      {
        privateKey: material.keyPair.privateKey,
        certificates: uniqueCertificates(material.chainPem + material.caPem),
        friendlyName: PKCS12_KEY_ALIAS,
      },
      password.reveal(),
      pkcs12.legacy ? 'legacy' : 'modern',
    ),
  );
  return [...files, { path: pkcs12.fileName, contents: keystore }];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The DER of each PEM certificate, in order, without repeats (the CA may be in both files). */
function uniqueCertificates(pem: string): Buffer[] {
  const seen = new Set<string>();
  const certificates: Buffer[] = [];
  for (const block of pem.match(PEM_CERTIFICATE) ?? []) {
    const raw = new X509Certificate(block).raw;
    const key = raw.toString('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    certificates.push(raw);
  }
  return certificates;
}
