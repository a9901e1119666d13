/**
 * One call to Vault's `<pkiMount>/sign/<pkiRole>`: the CSR made on the node
 * and the names it asks for go out (never the key), the signed leaf and the
 * issuer's chain come back, checked before anything is built from them.
 */
import { X509Certificate } from 'node:crypto';
import { KeymountError, type Sensitive } from '../../src/provider/contract.js';
import type { RequestedNames } from '../x509-common/index.js';
import { backendWarnings, record, type VaultApi } from './api.js';
import type { VaultFailure } from './errors.js';
import { roleMismatchFix } from './pki-role-mismatch.js';

export interface SignRequest {
  readonly pkiMount: string;
  readonly pkiRole: string;
  /** PEM "CERTIFICATE REQUEST". */
  readonly csrPem: string;
  readonly names: RequestedNames;
  readonly ttlSeconds: number;
  /** SubjectPublicKeyInfo (DER) of the node's key: the certificate must certify it. */
  readonly publicKeyDer: Buffer;
}

export interface SignedCertificate {
  readonly leaf: X509Certificate;
  /** Upper-case hex, as node:crypto prints it. */
  readonly serialNumber: string;
  readonly notAfter: Date;
  /** The leaf, then the intermediates of Vault's ca_chain (its self-signed roots left out). */
  readonly chainPem: string;
  /** Vault's ca_chain as returned (or issuing_ca when it sends no chain). */
  readonly caPem: string;
  /** Vault's warnings (a capped TTL, names taken from the CSR); they name no secret. */
  readonly warnings: readonly string[];
  /** Set when the role has generate_lease: the certificate then dies with the pod's Vault token. */
  readonly leaseId: string | undefined;
}

/** The request body: names are sent explicitly, so roles with use_csr_common_name / use_csr_sans off get the same ones. */
export function signBody(request: SignRequest): Record<string, unknown> {
  const { names } = request;
  const altNames = [...names.dnsNames, ...names.emailAddresses];
  return {
    csr: request.csrPem,
    ...(names.commonName !== undefined ? { common_name: names.commonName } : {}),
    ...(altNames.length > 0 ? { alt_names: altNames.join(',') } : {}),
    ...(names.ipAddresses.length > 0 ? { ip_sans: [...names.ipAddresses] } : {}),
    ...(names.uris.length > 0 ? { uri_sans: [...names.uris] } : {}),
    ttl: `${request.ttlSeconds}s`,
    format: 'pem',
    // The certificate holds the names the pod asked for, no more (local-ca does the same).
    exclude_cn_from_sans: true,
  };
}

export async function signCsr(api: VaultApi, token: Sensitive<string>, request: SignRequest, signal: AbortSignal, what: string): Promise<SignedCertificate> {
  const path = `${request.pkiMount}/sign/${request.pkiRole}`;
  const call = { method: 'POST', path, token, body: signBody(request) } as const;
  let answer: unknown;
  try {
    answer = await api.call(call, signal, {
      what,
      // A 400 the role gives that is not a known mismatch (below) stays a refusal, as before.
      overrides: { 400: 'PERMISSION_DENIED' },
    });
  } catch (error) {
    if (!(error instanceof KeymountError)) throw error;
    const failure = error.cause as VaultFailure | undefined;
    // Vault's bare "permission denied" (403) does not say which capability is missing.
    if (error.code === 'PERMISSION_DENIED' && failure?.status === 403) {
      throw new KeymountError(error.code, `${error.message}; the identity's Vault policy must grant "update" on "${path}"`, { cause: failure });
    }
    // The role and the volume do not match (key type, name, lifetime): either side can fix it, so it is no denial.
    const fix = failure?.status === 400 ? roleMismatchFix(failure.messages, request.pkiMount, request.pkiRole) : undefined;
    if (fix !== undefined) {
      throw new KeymountError('FAILED_PRECONDITION', `${error.message}. ${fix.charAt(0).toUpperCase()}${fix.slice(1)}`, { cause: failure });
    }
    throw error;
  }
  return readSignedCertificate(record(answer), request.publicKeyDer, api.address, backendWarnings(record(answer).warnings, call));
}

function readSignedCertificate(answer: Record<string, unknown>, publicKeyDer: Buffer, address: string, warnings: string[]): SignedCertificate {
  const data = record(answer.data);
  const leaf = parseCertificate(data.certificate);
  const chain = (Array.isArray(data.ca_chain) ? data.ca_chain : []).flatMap((item) => splitPem(item)).map((pem) => parseCertificate(pem));
  const issuing = chain.length > 0 ? [] : splitPem(data.issuing_ca).map((pem) => parseCertificate(pem));
  const authorities = chain.length > 0 ? chain : issuing;
  if (leaf === undefined || authorities.length === 0 || authorities.some((certificate) => certificate === undefined)) {
    throw new KeymountError('UNAVAILABLE', `the Vault server at ${address} answered the sign request without a readable certificate and CA chain`);
  }
  const cas = authorities.filter((certificate): certificate is X509Certificate => certificate !== undefined);
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKeyDer)) {
    throw new KeymountError(
      'FAILED_PRECONDITION',
      `the Vault server at ${address} returned a certificate for another key than the CSR's; the cluster admin must check the server and what sits between`,
    );
  }
  // A chain that did not sign the leaf would give the pod a ca.crt that cannot verify its own certificate.
  if (!cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) {
    throw new KeymountError(
      'FAILED_PRECONDITION',
      `the Vault server at ${address} returned a CA chain that did not sign the certificate; the cluster admin must check the PKI mount's issuers`,
    );
  }
  const intermediates = cas.filter((certificate) => !isSelfSigned(certificate));
  const leaseId = typeof answer.lease_id === 'string' && answer.lease_id !== '' ? answer.lease_id : undefined;
  return {
    leaf,
    serialNumber: leaf.serialNumber,
    notAfter: new Date(leaf.validTo),
    chainPem: [leaf, ...intermediates].map((certificate) => certificate.toString()).join(''),
    caPem: cas.map((certificate) => certificate.toString()).join(''),
    warnings,
    leaseId,
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function splitPem(value: unknown): string[] {
  return typeof value === 'string' ? (value.match(PEM_CERTIFICATE) ?? []) : [];
}

function parseCertificate(pem: unknown): X509Certificate | undefined {
  if (typeof pem !== 'string') return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function isSelfSigned(certificate: X509Certificate): boolean {
  return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}
