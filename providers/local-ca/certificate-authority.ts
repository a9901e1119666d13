/**
 * The CA that signs pods' certificates: loaded from the admin's PEM files, or
 * generated in memory for development. Everything is checked at start-up so
 * that a misconfigured CA stops the driver instead of failing each mount.
 */
import { createPrivateKey, randomBytes, webcrypto, X509Certificate as NodeCertificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { X509Certificate } from '@peculiar/x509';
import {
  ONE_MINUTE_MS,
  importSigningKey,
  signingParametersFor,
  wholeSeconds,
  x509,
  type SignatureAlgorithm,
} from '../x509-common/index.js';
import { invalidSettings } from './settings.js';

export interface CertificateAuthority {
  readonly certificate: X509Certificate;
  /** The CA certificate re-encoded as one clean PEM block with a trailing newline. */
  readonly certificatePem: string;
  readonly signingKey: webcrypto.CryptoKey;
  readonly signatureAlgorithm: SignatureAlgorithm;
  /** Hex key identifier that issued certificates name in authorityKeyIdentifier. */
  readonly keyIdentifier: string;
  /** A self-signed (root) CA is not appended to the leaf's certificate file. */
  readonly selfSigned: boolean;
  readonly notAfter: Date;
}

export interface CaFiles {
  readonly caCertFile: string;
  readonly caKeyFile: string;
}

const DEVELOPMENT_CA_VALIDITY_MS = 365 * 24 * 60 * ONE_MINUTE_MS;

/** A random, positive, 16-byte certificate serial number (hex). */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  // Top bit clear keeps the DER INTEGER positive; the next bit set keeps it 16 bytes long.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex').toUpperCase();
}

// --- admin-supplied CA -----------------------------------------------------

/** Loads and checks the admin's CA certificate and key; throws an Error naming the bad setting. */
export async function loadCertificateAuthority(instanceName: string, files: CaFiles, now: Date): Promise<CertificateAuthority> {
  const fail = (detail: string, cause?: unknown): Error => invalidSettings(instanceName, detail, cause);
  const certificateText = await readSettingFile('caCertFile', files.caCertFile, fail);
  const keyText = await readSettingFile('caKeyFile', files.caKeyFile, fail);
  const certificate = parseCaCertificate(certificateText, files.caCertFile, fail);
  const privateKey = parseCaKey(keyText, files.caKeyFile, fail);
  const parsed = new x509.X509Certificate(certificate.raw);
  checkCaCertificate(certificate, parsed, files.caCertFile, now, fail);
  if (!certificate.checkPrivateKey(privateKey)) {
    throw fail(`caKeyFile "${files.caKeyFile}" is not the private key of the certificate in caCertFile "${files.caCertFile}"`);
  }
  const signing = signingParametersFor(privateKey);
  if (signing === undefined) {
    const keyType = privateKey.asymmetricKeyType ?? 'unknown';
    throw fail(`caKeyFile "${files.caKeyFile}": unsupported key type "${keyType}" (use RSA, ECDSA P-256/P-384/P-521 or Ed25519)`);
  }
  const signingKey = await importSigningKey(privateKey, signing);
  return describeAuthority(parsed, signingKey, signing.signatureAlgorithm, isSelfSigned(certificate));
}

type Fail = (detail: string, cause?: unknown) => Error;

async function readSettingFile(setting: string, path: string, fail: Fail): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw fail(`${setting} "${path}" cannot be read: ${error instanceof Error ? error.message : String(error)}`, error);
  }
}

function parseCaCertificate(pem: string, path: string, fail: Fail): NodeCertificate {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (blocks !== 1) throw fail(`caCertFile "${path}" must hold exactly one PEM certificate, found ${blocks}`);
  try {
    return new NodeCertificate(pem);
  } catch (error) {
    throw fail(`caCertFile "${path}" does not hold a valid PEM certificate`, error);
  }
}

function parseCaKey(pem: string, path: string, fail: Fail): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    // The error is kept as cause for the log; node's messages never quote the key.
    throw fail(`caKeyFile "${path}" does not hold an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)`, error);
  }
}

function checkCaCertificate(certificate: NodeCertificate, parsed: X509Certificate, path: string, now: Date, fail: Fail): void {
  if (!certificate.ca) throw fail(`caCertFile "${path}" is not a CA certificate (its basicConstraints do not say cA: true)`);
  const keyUsage = parsed.getExtension(x509.KeyUsagesExtension);
  if (keyUsage !== null && (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw fail(`caCertFile "${path}": the certificate's keyUsage does not allow signing certificates (keyCertSign)`);
  }
  if (parsed.notAfter.getTime() <= now.getTime()) {
    throw fail(`caCertFile "${path}": the CA certificate expired at ${parsed.notAfter.toISOString()}`);
  }
}

function isSelfSigned(certificate: NodeCertificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

// --- generated development CA ----------------------------------------------

/**
 * An ECDSA P-256 root CA that lives only in memory: every restart makes a new
 * one, so pods' ca.crt changes. For development only.
 */
export async function generateDevelopmentCertificateAuthority(instanceName: string, now: Date): Promise<CertificateAuthority> {
  const signatureAlgorithm: SignatureAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
  // Not extractable: the CA key can never leave WebCrypto.
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const keyIdentifier = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: [`keymount development CA (${instanceName})`] }],
    notBefore: wholeSeconds(now.getTime() - ONE_MINUTE_MS),
    notAfter: wholeSeconds(now.getTime() + DEVELOPMENT_CA_VALIDITY_MS),
    keys,
    signingAlgorithm: signatureAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      keyIdentifier,
    ],
  });
  return describeAuthority(certificate, keys.privateKey, signatureAlgorithm, true);
}

// --- common ----------------------------------------------------------------

async function describeAuthority(
  certificate: X509Certificate,
  signingKey: webcrypto.CryptoKey,
  signatureAlgorithm: SignatureAlgorithm,
  selfSigned: boolean,
): Promise<CertificateAuthority> {
  return {
    certificate,
    certificatePem: new NodeCertificate(Buffer.from(certificate.rawData)).toString(),
    signingKey,
    signatureAlgorithm,
    keyIdentifier: await keyIdentifierOf(certificate),
    selfSigned,
    notAfter: certificate.notAfter,
  };
}

/** The CA's own subjectKeyIdentifier, or (when it has none) the SHA-1 of its public key as RFC 5280 suggests. */
async function keyIdentifierOf(certificate: X509Certificate): Promise<string> {
  const declared = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (declared !== null) return declared.keyId;
  return (await x509.SubjectKeyIdentifierExtension.create(certificate.publicKey)).keyId;
}
