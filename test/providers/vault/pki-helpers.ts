/** Builds `vault-pki` instances the way the driver does, and reads what they and Vault produced, for the vault-pki tests. */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, FetchResult, Provider, Unchanged } from '../../../src/provider/contract.js';
import { createVaultPkiProviderType, type VaultPkiAttributes } from '../../../providers/vault/index.js';
import { defaultVaultEnvironment, type VaultEnvironment } from '../../../providers/vault/connection.js';
import { openssl, withTempDir } from '../local-ca/helpers.js';
import { captureLogger, filesOf, type LogLine } from './helpers.js';

export interface PkiTestProvider {
  readonly provider: Provider<VaultPkiAttributes>;
  readonly logs: LogLine[];
}

export async function createPkiProvider(
  settings: Record<string, unknown>,
  options: { env?: VaultEnvironment; clock?: Clock; instanceName?: string } = {},
): Promise<PkiTestProvider> {
  const { logger, lines } = captureLogger();
  const clock = options.clock ?? { now: () => new Date() };
  const provider = await createVaultPkiProviderType(options.env ?? defaultVaultEnvironment).create(options.instanceName ?? 'pki', settings, { clock, logger });
  return { provider: provider as Provider<VaultPkiAttributes>, logs: lines };
}

/** Every certificate of a PEM file, in order. */
export function certificatesOf(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

export interface CertificateVolume {
  readonly files: Record<string, string>;
  readonly leaf: X509Certificate;
  readonly chain: X509Certificate[];
  readonly cas: X509Certificate[];
}

export function certificateVolume(outcome: FetchResult | Unchanged, names = { certificate: 'tls.crt', ca: 'ca.crt' }): CertificateVolume {
  const files = filesOf(outcome);
  const chain = certificatesOf(files[names.certificate] ?? '');
  const [leaf] = chain;
  if (leaf === undefined) throw new Error(`no certificate in ${names.certificate}`);
  return { files, leaf, chain, cas: certificatesOf(files[names.ca] ?? '') };
}

/** True when the private key PEM belongs to the certificate. */
export function keyMatches(certificate: X509Certificate, privateKeyPem: string): boolean {
  const spki = (key: ReturnType<typeof createPublicKey>) => key.export({ type: 'spki', format: 'der' });
  return spki(createPublicKey(createPrivateKey(privateKeyPem))).equals(spki(certificate.publicKey));
}

/** `openssl verify -CAfile <ca> <cert>` on the given PEM texts; resolves with openssl's output, rejects when it fails. */
export async function opensslVerify(caPem: string, certificatePem: string): Promise<string> {
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'ca.crt'), caPem);
    await writeFile(join(dir, 'tls.crt'), certificatePem);
    return openssl(['verify', '-CAfile', 'ca.crt', 'tls.crt'], dir);
  });
}

/** The base64 lines of a PEM body: what would show if the PEM, or its DER in base64, were sent anywhere. */
export function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
}

export interface AuditEntry {
  readonly type: string;
  readonly request?: { readonly path?: string; readonly operation?: string; readonly data?: Record<string, unknown> };
}

/** The raw (log_raw) file audit log of the test server: one JSON object a line. */
export function readAuditLog(file: string): { text: string; entries: AuditEntry[] } {
  const text = readFileSync(file, 'utf8');
  const entries = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
  return { text, entries };
}

/** The CSRs Vault received at `path` (e.g. "pki/sign/web"), from its audit log. */
export function csrsSentTo(file: string, path: string): string[] {
  return readAuditLog(file)
    .entries.filter((entry) => entry.type === 'request' && entry.request?.path === path)
    .map((entry) => entry.request?.data?.csr)
    .filter((csr): csr is string => typeof csr === 'string');
}
