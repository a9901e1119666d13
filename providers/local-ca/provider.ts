/**
 * One configured local-ca instance: validates pods' requests against its
 * policy and issues their certificates from its CA, renewing them when the
 * core asks at the renew-before point.
 */
import {
  failedPrecondition,
  type FetchRequest,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderDependencies,
  type Unchanged,
} from '../../src/provider/contract.js';
import {
  CERTIFICATE_ATTRIBUTE_KEYS,
  CERTIFICATE_VERSION_KEY,
  IssuanceLimiter,
  IssuedCertificates,
  KeyStore,
  ONE_MINUTE_MS,
  certificateFiles,
  certificateWork,
  checkIssuanceRate,
  pkcs12Password,
  renewalTime,
  wholeSeconds,
} from '../x509-common/index.js';
import { parseLocalCaAttributes, type LocalCaAttributes } from './attributes.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { issueLeafCertificate, type IssuedCertificate } from './issuer.js';
import type { CertificatePolicy } from './policy.js';

export const LOCAL_CA_TYPE = 'local-ca';

/** Validity starts this much before "now", so nodes whose clocks lag a little accept it. */
const CLOCK_SKEW_ALLOWANCE_MS = ONE_MINUTE_MS;

export interface LocalCaInstance {
  readonly instanceName: string;
  readonly policy: CertificatePolicy;
  readonly ca: CertificateAuthority;
  readonly deps: ProviderDependencies;
  /** Per volume (the maxIssuancesPerMinute setting). */
  readonly maxIssuancesPerMinute: number;
}

export class LocalCaProvider implements Provider<LocalCaAttributes> {
  readonly type = LOCAL_CA_TYPE;
  readonly attributeKeys = CERTIFICATE_ATTRIBUTE_KEYS;
  /** Per volume: the key kept for reuse-private-key, and the certificate issued last. */
  private readonly keys = new KeyStore();
  private readonly issued: IssuedCertificates;
  private readonly limiter: IssuanceLimiter;

  constructor(private readonly instance: LocalCaInstance) {
    this.issued = new IssuedCertificates(instance.deps.clock);
    this.limiter = new IssuanceLimiter(instance.maxIssuancesPerMinute, instance.deps.clock);
  }

  parseAttributes(attributes: Readonly<Record<string, string>>, pod: PodIdentity): LocalCaAttributes {
    const { instanceName, policy } = this.instance;
    return parseLocalCaAttributes(attributes, pod, { instanceName, policy });
  }

  async fetch(request: FetchRequest<LocalCaAttributes>, signal: AbortSignal): Promise<FetchResult | Unchanged> {
    signal.throwIfAborted();
    // A republish (every container restart, every minute with requiresRepublish) must not re-issue.
    const unchanged = this.issued.unchanged(request);
    if (unchanged !== undefined) return unchanged;
    const { attributes, volumeId } = request;
    const password = pkcs12Password(attributes, request.secrets);
    const limited = checkIssuanceRate(this.limiter, request, {
      instance: `local-ca instance "${this.instance.instanceName}"`,
      setting: 'maxIssuancesPerMinute',
      maxPerMinute: this.instance.maxIssuancesPerMinute,
    });
    if (limited !== undefined) {
      this.logDeferred(request, limited.refreshAt);
      return limited;
    }
    const issuedAt = this.instance.deps.clock.now();
    const validity = this.validityWindow(issuedAt, attributes.durationMs);
    // Key generation and signing wait for this tenant's turn in the node-wide queues.
    const work = { tenant: request.pod.namespace, signal, urgent: request.previousVersions[CERTIFICATE_VERSION_KEY] === undefined };
    const keyPair = await this.keys.keyFor(volumeId, attributes.key, attributes.reusePrivateKey, work);
    signal.throwIfAborted();
    const issued = await certificateWork.signing.run(work, () =>
      issueLeafCertificate(this.instance.ca, { ...attributes, ...validity, publicKeyDer: keyPair.publicKeyDer }),
    );
    const { ca } = this.instance;
    // An intermediate CA travels with the leaf so that clients trusting only the root can build the chain.
    const chainPem = ca.selfSigned ? issued.pem : issued.pem + ca.certificatePem;
    const files = await certificateFiles(attributes, { chainPem, caPem: ca.certificatePem, keyPair }, password, work);
    const refreshAt = renewalTime({ issuedAt, notAfter: validity.notAfter }, attributes.renewBeforeMs);
    this.issued.remember(volumeId, issued.serialNumber, refreshAt);
    this.logIssued(issued, attributes, request.pod, refreshAt);
    return { files, versions: { [CERTIFICATE_VERSION_KEY]: issued.serialNumber }, notAfter: validity.notAfter, refreshAt };
  }

  release(volumeId: string): Promise<void> {
    this.keys.forget(volumeId);
    this.issued.forget(volumeId);
    return Promise.resolve();
  }

  /** now − skew allowance … now + duration, cut off where the CA itself expires. */
  private validityWindow(issuedAt: Date, durationMs: number): { notBefore: Date; notAfter: Date } {
    const { ca, instanceName } = this.instance;
    const now = issuedAt.getTime();
    const notAfter = wholeSeconds(Math.min(now + durationMs, ca.notAfter.getTime()));
    if (notAfter.getTime() <= now) {
      throw failedPrecondition(
        `the CA certificate of local-ca instance "${instanceName}" expired at ${ca.notAfter.toISOString()}; ` +
          'the cluster admin must renew it',
      );
    }
    return { notBefore: wholeSeconds(now - CLOCK_SKEW_ALLOWANCE_MS), notAfter };
  }

  private logDeferred(request: FetchRequest<LocalCaAttributes>, retryAt: Date | undefined): void {
    this.instance.deps.logger.warn(
      {
        instance: this.instance.instanceName,
        namespace: request.pod.namespace,
        pod: request.pod.name,
        volumeId: request.volumeId,
        maxIssuancesPerMinute: this.instance.maxIssuancesPerMinute,
        retryAt: retryAt?.toISOString(),
      },
      'local-ca: renewal deferred, the volume reached the instance\'s maxIssuancesPerMinute; it keeps its current certificate until then',
    );
  }

  /** Names and dates only: key material never reaches the log. */
  private logIssued(issued: IssuedCertificate, attributes: LocalCaAttributes, pod: PodIdentity, refreshAt: Date): void {
    this.instance.deps.logger.debug(
      {
        instance: this.instance.instanceName,
        namespace: pod.namespace,
        pod: pod.name,
        serialNumber: issued.serialNumber,
        commonName: attributes.commonName,
        dnsNames: attributes.dnsNames,
        ipAddresses: attributes.ipAddresses,
        uris: attributes.uris,
        emailAddresses: attributes.emailAddresses,
        notAfter: issued.certificate.notAfter.toISOString(),
        refreshAt: refreshAt.toISOString(),
      },
      'local-ca: issued certificate',
    );
  }
}
