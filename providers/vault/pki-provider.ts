/**
 * One configured `vault-pki` instance: generates each pod's key pair on the
 * node, logs in to Vault as the pod (or, if the admin chose so, as the
 * driver), has the instance's PKI role sign a CSR, and hands the core the
 * certificate files. The key never leaves the node except into the pod's
 * volume; Vault sees only the CSR.
 */
import {
  type FetchRequest,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderDependencies,
  type Unchanged,
  KeymountError,
  failedPrecondition,
  parseDuration,
} from '../../src/provider/contract.js';
import {
  CERTIFICATE_ATTRIBUTE as ATTRIBUTE,
  CERTIFICATE_VERSION_KEY,
  IssuanceLimiter,
  IssuedCertificates,
  KeyStore,
  certificateFiles,
  certificateWork,
  checkIssuanceRate,
  createCsr,
  pkcs12Password,
  renewalTime,
  type NodeKeyPair,
} from '../x509-common/index.js';
import type { VaultConnection } from './connection.js';
import { VAULT_PKI_ATTRIBUTE_KEYS, parseVaultPkiAttributes, type VaultPkiAttributes } from './pki-attributes.js';
import type { VaultPkiSettings } from './pki-settings.js';
import { signCsr, type SignedCertificate } from './pki-sign.js';
import type { CachedToken } from './token-cache.js';

export const VAULT_PKI_TYPE = 'vault-pki';

/** Vault's warning when it capped the requested TTL: `TTL "2h0m0s" is longer than permitted maxTTL "1h0m0s", so maxTTL is being used`. */
const MAX_TTL_CAPPED = /longer than permitted maxTTL/;

/** Vault's sign endpoint ignores a CSR's usages and CA flag (the role decides them), so the CSR asks for none. */
const NO_USAGES = Object.freeze({ basic: [], extended: [] });

export class VaultPkiProvider implements Provider<VaultPkiAttributes> {
  readonly type = VAULT_PKI_TYPE;
  readonly attributeKeys = VAULT_PKI_ATTRIBUTE_KEYS;
  /** Per volume: the key kept for reuse-private-key, and the certificate issued last. */
  private readonly keys = new KeyStore();
  private readonly issued: IssuedCertificates;
  private readonly limiter: IssuanceLimiter;

  constructor(
    private readonly instanceName: string,
    private readonly settings: Pick<VaultPkiSettings, 'pkiMount' | 'pkiRole' | 'trustDomain' | 'minDuration' | 'maxIssuancesPerMinute'>,
    private readonly vault: VaultConnection,
    private readonly deps: ProviderDependencies,
  ) {
    this.issued = new IssuedCertificates(deps.clock);
    this.limiter = new IssuanceLimiter(settings.maxIssuancesPerMinute, deps.clock);
  }

  parseAttributes(attributes: Readonly<Record<string, string>>, pod: PodIdentity): VaultPkiAttributes {
    const { pkiMount, pkiRole, trustDomain, minDuration } = this.settings;
    return parseVaultPkiAttributes(attributes, pod, {
      instanceName: this.instanceName,
      pkiMount,
      pkiRole,
      trustDomain,
      usesPodIdentity: this.vault.authenticator.usesPodIdentity,
      // The settings schema has already checked the duration.
      minDurationMs: parseDuration(minDuration) ?? 0,
      minDurationText: minDuration,
    });
  }

  async fetch(request: FetchRequest<VaultPkiAttributes>, signal: AbortSignal): Promise<FetchResult | Unchanged> {
    signal.throwIfAborted();
    // Kubelet republishes and refresh intervals must not cost a Vault signature until renewal is due.
    const unchanged = this.issued.unchanged(request);
    if (unchanged !== undefined) return unchanged;
    const { attributes, volumeId } = request;
    // Both fail fast, before a key is made or Vault is asked: a missing keystore secret, a missing token audience.
    const password = pkcs12Password(attributes, request.secrets);
    const source = this.vault.authenticator.sourceFor({ pod: request.pod, tokens: request.tokens, roleName: attributes.roleName });
    const limited = checkIssuanceRate(this.limiter, request, {
      instance: `vault-pki instance "${this.instanceName}"`,
      setting: 'maxIssuancesPerMinute',
      maxPerMinute: this.settings.maxIssuancesPerMinute,
    });
    if (limited !== undefined) {
      this.deps.logger.warn(
        { instance: this.instanceName, namespace: request.pod.namespace, pod: request.pod.name, volumeId, retryAt: limited.refreshAt?.toISOString() },
        'vault-pki: renewal deferred, the volume reached the instance\'s maxIssuancesPerMinute; it keeps its current certificate until then',
      );
      return limited;
    }
    // Key generation and CSR signing wait for this tenant's turn in the node-wide queues.
    const work = { tenant: request.pod.namespace, signal, urgent: request.previousVersions[CERTIFICATE_VERSION_KEY] === undefined };
    const keyPair = await this.keys.keyFor(volumeId, attributes.key, attributes.reusePrivateKey, work);
    const csr = await certificateWork.signing.run(work, () => createCsr({ ...attributes, isCA: false, keyUsages: NO_USAGES }, keyPair));
    const issuedAt = this.deps.clock.now();
    const sign = async (token: CachedToken): Promise<SignedCertificate> =>
      signCsr(
        this.vault.api,
        token.token,
        {
          pkiMount: this.settings.pkiMount,
          pkiRole: this.settings.pkiRole,
          csrPem: csr.pem,
          names: attributes,
          ttlSeconds: Math.ceil(attributes.durationMs / 1000),
          publicKeyDer: keyPair.publicKeyDer,
        },
        signal,
        this.signingWhat(attributes, source.description),
      );
    const token = await this.vault.tokens.acquire(source, volumeId, signal);
    let signed: SignedCertificate;
    try {
      signed = await sign(token);
    } catch (error) {
      if (!(error instanceof KeymountError) || error.code !== 'PERMISSION_DENIED') throw error;
      // A cached token Vault refuses (revoked or expired out of band): log in again once; a second refusal is final.
      this.vault.tokens.invalidate(token);
      this.deps.logger.info({ instance: this.instanceName, identity: source.description }, 'vault-pki: Vault refused the cached token; logging in again');
      signed = await sign(await this.vault.tokens.acquire(source, volumeId, signal));
    }
    if (signed.notAfter.getTime() <= issuedAt.getTime()) {
      throw failedPrecondition(
        `the Vault PKI role "${this.settings.pkiRole}" at ${this.settings.pkiMount}/ signed a certificate that expired at ` +
          `${signed.notAfter.toISOString()} (has its CA expired?); the cluster admin must check the PKI mount`,
      );
    }
    // A fetch the core stopped waiting for must not leave a remembered serial nobody holds.
    signal.throwIfAborted();
    const files = await certificateFiles(attributes, { chainPem: signed.chainPem, caPem: signed.caPem, keyPair }, password, work);
    const refreshAt = renewalTime({ issuedAt, notAfter: signed.notAfter }, attributes.renewBeforeMs);
    this.issued.remember(volumeId, signed.serialNumber, refreshAt);
    this.logIssued(signed, attributes, request.pod, refreshAt, keyPair);
    return { files, versions: { [CERTIFICATE_VERSION_KEY]: signed.serialNumber }, notAfter: signed.notAfter, refreshAt };
  }

  async release(volumeId: string, signal: AbortSignal): Promise<void> {
    this.keys.forget(volumeId);
    this.issued.forget(volumeId);
    // Revokes the pod's Vault token once no volume uses it.
    await this.vault.tokens.release(volumeId, signal);
  }

  private signingWhat(attributes: VaultPkiAttributes, identity: string): string {
    const { pkiMount, pkiRole } = this.settings;
    const spiffe = attributes.usesDefaultUri ? `, for the pod's SPIFFE ID ${attributes.uris.join('')}` : '';
    return `signing the pod's certificate request at ${pkiMount}/sign/${pkiRole} as ${identity} (vault-pki instance "${this.instanceName}")${spiffe}`;
  }

  /** Names, dates and the key's type only: key material never reaches the log. */
  private logIssued(signed: SignedCertificate, attributes: VaultPkiAttributes, pod: PodIdentity, refreshAt: Date, keyPair: NodeKeyPair): void {
    const { logger } = this.deps;
    const where = { instance: this.instanceName, namespace: pod.namespace, pod: pod.name };
    for (const warning of signed.warnings) logger.debug({ ...where, warning }, 'vault-pki: warning from Vault');
    // Vault caps a TTL above the role's max_ttl instead of refusing it: the pod gets a shorter certificate, renewed sooner.
    if (signed.warnings.some((warning) => MAX_TTL_CAPPED.test(warning))) {
      logger.warn(
        { ...where, pkiRole: this.settings.pkiRole, duration: attributes.durationText, notAfter: signed.notAfter.toISOString() },
        `vault-pki: the PKI role's max_ttl (or the PKI mount's max lease TTL) is shorter than the volume's attribute "${ATTRIBUTE.duration}", ` +
          'so Vault signed a shorter certificate; ask for a duration within max_ttl, or the cluster admin raises max_ttl on the role',
      );
    }
    if (signed.leaseId !== undefined) {
      logger.warn(
        { ...where, pkiRole: this.settings.pkiRole },
        'vault-pki: the PKI role has generate_lease set, so Vault revokes each certificate when the Vault token that ' +
          'requested it expires or is revoked, possibly long before its notAfter; turn generate_lease off on the role',
      );
    }
    logger.debug(
      {
        ...where,
        serialNumber: signed.serialNumber,
        keyAlgorithm: keyPair.spec.algorithm,
        commonName: attributes.commonName,
        dnsNames: attributes.dnsNames,
        ipAddresses: attributes.ipAddresses,
        uris: attributes.uris,
        emailAddresses: attributes.emailAddresses,
        notAfter: signed.notAfter.toISOString(),
        refreshAt: refreshAt.toISOString(),
      },
      'vault-pki: issued certificate',
    );
  }
}
