/**
 * The pod's volume attributes for a local-ca volume: the shared certificate
 * attributes (providers/x509-common), checked against the instance's policy
 * before anything is mounted.
 */
import { permissionDenied, type PodIdentity } from '../../src/provider/contract.js';
import {
  CERTIFICATE_ATTRIBUTE as ATTRIBUTE,
  excerpt,
  extendedUsageName,
  parseCertificateAttributes,
  spiffeId,
  type CertificateAttributes,
  type NameKind,
} from '../x509-common/index.js';
import { findRefusedName, findRefusedSubjectAttribute, findRefusedUsage, type CertificatePolicy } from './policy.js';

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
  const literal = attributes[ATTRIBUTE.literalSubject] !== undefined;
  const facts: PolicyFacts = {
    pod,
    commonNameAttribute: literal ? ATTRIBUTE.literalSubject : ATTRIBUTE.commonName,
    subjectAttribute: literal ? ATTRIBUTE.literalSubject : ATTRIBUTE.organizations,
    extendedUsagesAttribute: attributes[ATTRIBUTE.extKeyUsages] === undefined ? ATTRIBUTE.keyUsages : ATTRIBUTE.extKeyUsages,
  };
  enforcePolicy(parsed, facts, context);
  return parsed;
}

interface PolicyFacts {
  readonly pod: PodIdentity;
  /** Where the common name came from: common-name or literal-subject. */
  readonly commonNameAttribute: string;
  /** Where the other subject attributes came from: organizations or literal-subject. */
  readonly subjectAttribute: string;
  /** Where the extended usages came from: ext-key-usages, or key-usages (and its default). */
  readonly extendedUsagesAttribute: string;
}

/** The policy setting that decides each kind of name. */
const NAME_SETTINGS: Readonly<Record<NameKind, string>> = {
  commonName: 'policy.commonNames',
  dnsNames: 'policy.dnsNames',
  ipAddresses: 'policy.ipSans',
  uris: 'policy.uriSans',
  emailAddresses: 'policy.emailSans',
};

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

/**
 * What the pod asked for against what the instance allows. Every refusal is
 * PERMISSION_DENIED (the request is well-formed, the policy forbids it) and
 * names the attribute and the setting of the instance that decides it.
 */
function enforcePolicy(parsed: LocalCaAttributes, facts: PolicyFacts, context: AttributeContext): void {
  const { policy, instanceName } = context;
  const policyName = `the policy of local-ca instance "${instanceName}"`;
  const refused = findRefusedName(policy, parsed, facts.pod);
  if (refused?.kind === 'commonName') {
    throw permissionDenied(
      `attribute "${facts.commonNameAttribute}": CN ${excerpt(refused.value)} is not allowed by ${policyName}: a common name ` +
        `must also be one of the certificate's "${ATTRIBUTE.dnsNames}" (add it there), or match the instance's ` +
        `${NAME_SETTINGS.commonName} (set by the cluster admin)`,
    );
  }
  if (refused !== undefined) {
    const what = parsed.usesDefaultUri ? `no name was requested, and the pod's SPIFFE ID ${excerpt(refused.value)}` : excerpt(refused.value);
    throw permissionDenied(
      `attribute "${attributeOf(refused.kind, facts)}": ${what} is not allowed by ${policyName} (its ${NAME_SETTINGS[refused.kind]})`,
    );
  }
  const attribute = findRefusedSubjectAttribute(policy, parsed.subject, facts.pod);
  if (attribute !== undefined) {
    const setting = attribute.typeName === 'emailAddress' || attribute.typeName === 'mail' ? NAME_SETTINGS.emailAddresses : 'policy.subjectAttributes';
    throw permissionDenied(
      `attribute "${facts.subjectAttribute}": ${attribute.typeName} ${excerpt(attribute.value)} is not allowed by ${policyName} ` +
        `(the cluster admin allows subject attributes and their values with ${setting})`,
    );
  }
  const usage = findRefusedUsage(policy, parsed.keyUsages, parsed.isCA);
  if (usage !== undefined) {
    const usageAttribute = usage.kind === 'basic' ? ATTRIBUTE.keyUsages : facts.extendedUsagesAttribute;
    const name = usage.kind === 'basic' ? `"${usage.value}"` : describeExtendedUsage(usage.value);
    throw permissionDenied(
      `attribute "${usageAttribute}": usage ${name} is not allowed by ${policyName} ` +
        '(the cluster admin allows more usages with policy.allowedKeyUsages)',
    );
  }
  if (parsed.durationMs < policy.minDurationMs) {
    throw permissionDenied(
      `attribute "${ATTRIBUTE.duration}": ${excerpt(parsed.durationText)} is not allowed by ${policyName} ` +
        `(minimum ${policy.minDurationText}, set by policy.minDuration)`,
    );
  }
  if (parsed.durationMs > policy.maxDurationMs) {
    throw permissionDenied(
      `attribute "${ATTRIBUTE.duration}": ${excerpt(parsed.durationText)} is not allowed by ${policyName} ` +
        `(maximum ${policy.maxDurationText}, set by policy.maxDuration)`,
    );
  }
  if (parsed.isCA && !policy.allowIsCA) {
    throw permissionDenied(`attribute "${ATTRIBUTE.isCA}": "true" (a CA certificate) is not allowed by ${policyName} (its policy.allowIsCA)`);
  }
}

/** "ocsp signing" (1.3.6.1.5.5.7.3.9), or the OID alone when it has no name. */
function describeExtendedUsage(oid: string): string {
  const name = extendedUsageName(oid);
  return name === undefined ? `"${oid}"` : `"${name}" (${oid})`;
}
