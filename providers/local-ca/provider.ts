/**
 * One configured local-ca instance: validates pods' requests against its
 * policy and issues their certificates from its CA.
 */
import {
  failedPrecondition,
  type FetchRequest,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderDependencies,
  type ProviderFile,
} from '../../src/provider/contract.js';
import { ATTRIBUTE_KEYS, parseLocalCaAttributes, type LocalCaAttributes } from './attributes.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { ONE_MINUTE_MS, wholeSeconds } from './duration.js';
import { issueLeafCertificate, type IssuedCertificate } from './issuer.js';
import { generateLeafKeyPair, type LeafKeyPair } from './keys.js';
import type { CertificatePolicy } from './policy.js';

export const LOCAL_CA_TYPE = 'local-ca';

/** Validity starts this much before "now", so nodes whose clocks lag a little accept it. */
const CLOCK_SKEW_ALLOWANCE_MS = ONE_MINUTE_MS;

export interface LocalCaInstance {
  readonly instanceName: string;
  readonly policy: CertificatePolicy;
  readonly ca: CertificateAuthority;
  readonly deps: ProviderDependencies;
}

export class LocalCaProvider implements Provider<LocalCaAttributes> {
  readonly type = LOCAL_CA_TYPE;
  readonly attributeKeys = ATTRIBUTE_KEYS;

  constructor(private readonly instance: LocalCaInstance) {}

  parseAttributes(attributes: Readonly<Record<string, string>>, pod: PodIdentity): LocalCaAttributes {
    const { instanceName, policy } = this.instance;
    return parseLocalCaAttributes(attributes, pod, { instanceName, policy });
  }

  async fetch(request: FetchRequest<LocalCaAttributes>, signal: AbortSignal): Promise<FetchResult> {
    signal.throwIfAborted();
    const { attributes } = request;
    const validity = this.validityWindow(attributes.durationMs);
    const keyPair = await generateLeafKeyPair(attributes.key, attributes.keyEncoding);
    signal.throwIfAborted();
    const issued = await issueLeafCertificate(this.instance.ca, { ...attributes, ...validity, publicKeyDer: keyPair.publicKeyDer });
    this.logIssued(issued, attributes, request.pod);
    return {
      files: this.volumeFiles(attributes, issued, keyPair),
      versions: { certificate: issued.serialNumber },
      notAfter: issued.certificate.notAfter,
    };
  }

  /** now − skew allowance … now + duration, cut off where the CA itself expires. */
  private validityWindow(durationMs: number): { notBefore: Date; notAfter: Date } {
    const { ca, instanceName, deps } = this.instance;
    const now = deps.clock.now().getTime();
    const notAfter = wholeSeconds(Math.min(now + durationMs, ca.notAfter.getTime()));
    if (notAfter.getTime() <= now) {
      throw failedPrecondition(
        `the CA certificate of local-ca instance "${instanceName}" expired at ${ca.notAfter.toISOString()}; ` +
          'the cluster admin must renew it',
      );
    }
    return { notBefore: wholeSeconds(now - CLOCK_SKEW_ALLOWANCE_MS), notAfter };
  }

  private volumeFiles(attributes: LocalCaAttributes, issued: IssuedCertificate, keyPair: LeafKeyPair): ProviderFile[] {
    const { ca } = this.instance;
    // An intermediate CA travels with the leaf so that clients trusting only the root can build the chain.
    const chain = ca.selfSigned ? issued.pem : issued.pem + ca.certificatePem;
    return [
      { path: attributes.fileNames.certificate, contents: Buffer.from(chain) },
      { path: attributes.fileNames.privateKey, contents: keyPair.privateKeyPem },
      { path: attributes.fileNames.ca, contents: Buffer.from(ca.certificatePem) },
    ];
  }

  /** Names and dates only: key material never reaches the log. */
  private logIssued(issued: IssuedCertificate, attributes: LocalCaAttributes, pod: PodIdentity): void {
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
        notAfter: issued.certificate.notAfter.toISOString(),
      },
      'local-ca: issued certificate',
    );
  }
}
