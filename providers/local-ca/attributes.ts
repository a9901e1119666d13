/**
 * The pod's volume attributes for a local-ca volume: the shared certificate
 * attributes (providers/x509-common), checked against the instance's policy
 * before anything is mounted.
 */
import { permissionDenied, type PodIdentity } from '../../src/provider/contract.js';
import {
  CERTIFICATE_ATTRIBUTE as ATTRIBUTE,
  parseCertificateAttributes,
  spiffeId,
  type CertificateAttributes,
  type NameKind,
} from '../x509-common/index.js';
import { findRefusedName, type CertificatePolicy } from './policy.js';

export type LocalCaAttributes = CertificateAttributes;

/** What parsing needs to know about the instance. */
export interface AttributeContext {
  readonly instanceName: string;
  readonly policy: CertificatePolicy;
}

/**
 * Validates the attributes this provider understands (others are the core's
 * business) and enforces the instance's policy. Throws INVALID_ARGUMENT for
 * malformed values and PERMISSION_DENIED for what the policy refuses.
 */
export function parseLocalCaAttributes(
  attributes: Readonly<Record<string, string>>,
  pod: PodIdentity,
  context: AttributeContext,
): LocalCaAttributes {
  // A pod that asks for no name gets its SPIFFE ID.
  const parsed = parseCertificateAttributes(attributes, pod, { defaultUri: spiffeId(context.policy.trustDomain, pod) });
  const commonNameAttribute = attributes[ATTRIBUTE.literalSubject] === undefined ? ATTRIBUTE.commonName : ATTRIBUTE.literalSubject;
  enforcePolicy(parsed, { pod, commonNameAttribute }, context);
  return parsed;
}

interface PolicyFacts {
  readonly pod: PodIdentity;
  /** Where the common name came from: common-name or literal-subject. */
  readonly commonNameAttribute: string;
}

/** The attribute a refused name came from. */
function attributeOf(kind: NameKind, facts: PolicyFacts): string {
  switch (kind) {
    case 'commonName':
      return facts.commonNameAttribute;
    case 'dnsNames':
      return ATTRIBUTE.dnsNames;
    case 'ipAddresses':
      return ATTRIBUTE.ipSans;
    case 'uris':
      return ATTRIBUTE.uriSans;
    case 'emailAddresses':
      return ATTRIBUTE.emailSans;
  }
}

function enforcePolicy(parsed: LocalCaAttributes, facts: PolicyFacts, context: AttributeContext): void {
  const { policy, instanceName } = context;
  const policyName = `the policy of local-ca instance "${instanceName}"`;
  const refused = findRefusedName(policy, parsed, facts.pod);
  if (refused !== undefined) {
    const what = parsed.usesDefaultUri ? `no name was requested, and the pod's SPIFFE ID "${refused.value}"` : `"${refused.value}"`;
    throw permissionDenied(`attribute "${attributeOf(refused.kind, facts)}": ${what} is not allowed by ${policyName}`);
  }
  if (parsed.durationMs > policy.maxDurationMs) {
    throw permissionDenied(
      `attribute "${ATTRIBUTE.duration}": "${parsed.durationText}" is not allowed by ${policyName} ` +
        `(maximum ${policy.maxDurationText})`,
    );
  }
  if (parsed.isCA && !policy.allowIsCA) {
    throw permissionDenied(`attribute "${ATTRIBUTE.isCA}": "true" (a CA certificate) is not allowed by ${policyName}`);
  }
}
