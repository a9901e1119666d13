/**
 * A pod's volumeAttributes for a `vault-pki` volume: the certificate
 * attributes every certificate provider takes, plus `roleName` (the Vault
 * role the pod logs in with).
 *
 * Vault's sign endpoint takes from a CSR only its key, common name and SANs:
 * the PKI role decides the rest of the subject, the key usages and the CA
 * flag. Attributes that would ask for those are refused here, before anything
 * is mounted, rather than silently dropped by Vault.
 */
import { invalidArgument, permissionDenied, type PodIdentity } from '../../src/provider/contract.js';
import {
  CERTIFICATE_ATTRIBUTE as ATTRIBUTE,
  CERTIFICATE_ATTRIBUTE_KEYS,
  excerpt,
  parseCertificateAttributes,
  spiffeId,
  type CertificateAttributes,
} from '../x509-common/index.js';
import { ROLE_NAME_ATTRIBUTE, parseRoleName } from './attributes.js';

/** cert-manager csi-driver attributes whose job the provider instance does in keymount. */
const ISSUER_ATTRIBUTES = ['issuer-name', 'issuer-kind', 'issuer-group'] as const;

export const VAULT_PKI_ATTRIBUTE_KEYS: readonly string[] = Object.freeze([...CERTIFICATE_ATTRIBUTE_KEYS, ROLE_NAME_ATTRIBUTE, ...ISSUER_ATTRIBUTES]);

export interface VaultPkiAttributes extends CertificateAttributes {
  /** The Vault role the pod logs in with (pod identity only). */
  readonly roleName: string | undefined;
}

export interface PkiAttributeContext {
  readonly instanceName: string;
  readonly pkiMount: string;
  readonly pkiRole: string;
  /** Set: a pod that asks for no name gets its SPIFFE ID. Unset: such a pod is refused. */
  readonly trustDomain: string | undefined;
  readonly usesPodIdentity: boolean;
  /** The instance's minDuration, and the admin's spelling of it for messages. */
  readonly minDurationMs: number;
  readonly minDurationText: string;
}

export function parseVaultPkiAttributes(
  attributes: Readonly<Record<string, string>>,
  pod: PodIdentity,
  context: PkiAttributeContext,
): VaultPkiAttributes {
  refuseUnsupported(attributes, context);
  const parsed = parseCertificateAttributes(attributes, pod, context.trustDomain === undefined ? {} : { defaultUri: spiffeId(context.trustDomain, pod) });
  const names = [parsed.commonName ?? [], parsed.dnsNames, parsed.ipAddresses, parsed.uris, parsed.emailAddresses].flat();
  if (names.length === 0) {
    throw invalidArgument(
      `vault-pki instance "${context.instanceName}" needs a name to put in the certificate: set "${ATTRIBUTE.commonName}" ` +
        `or one of "${ATTRIBUTE.dnsNames}", "${ATTRIBUTE.ipSans}", "${ATTRIBUTE.uriSans}", "${ATTRIBUTE.emailSans}" ` +
        '(or the cluster admin sets the instance\'s trustDomain, which gives such pods their SPIFFE ID)',
    );
  }
  if (parsed.durationMs < context.minDurationMs) {
    throw permissionDenied(
      `attribute "${ATTRIBUTE.duration}": ${excerpt(parsed.durationText)} is not allowed by vault-pki instance ` +
        `"${context.instanceName}" (minimum ${context.minDurationText}, set by its minDuration)`,
    );
  }
  return Object.freeze({ ...parsed, roleName: parseRoleName(attributes[ROLE_NAME_ATTRIBUTE], context) });
}

/** What Vault's PKI role decides, and why the pod cannot ask for it. */
function refuseUnsupported(attributes: Readonly<Record<string, string>>, context: PkiAttributeContext): void {
  const role = `the PKI role "${context.pkiRole}" at ${context.pkiMount}/ (provider instance "${context.instanceName}")`;
  const issuerAttribute = ISSUER_ATTRIBUTES.find((key) => attributes[key] !== undefined);
  if (issuerAttribute !== undefined) {
    throw invalidArgument(
      `attribute "${issuerAttribute}" is cert-manager's; in keymount the provider instance ("${context.instanceName}", chosen by ` +
        '"provider") says which CA signs: remove it',
    );
  }
  if (attributes[ATTRIBUTE.isCA]?.trim().toLowerCase() === 'true') {
    throw invalidArgument(
      `attribute "${ATTRIBUTE.isCA}": vault-pki signs leaf certificates only (Vault's sign-intermediate endpoint is not ` +
        'offered to pods); remove it, or ask the cluster admin for a local-ca instance whose policy allows CA certificates',
    );
  }
  for (const key of [ATTRIBUTE.keyUsages, ATTRIBUTE.extKeyUsages]) {
    if (attributes[key] === undefined) continue;
    throw invalidArgument(
      `attribute "${key}": ${role} decides the usages of the certificates it signs (its key_usage, ext_key_usage, ` +
        'server_flag and client_flag settings); remove the attribute',
    );
  }
  for (const key of [ATTRIBUTE.organizations, ATTRIBUTE.literalSubject]) {
    if (attributes[key] === undefined) continue;
    throw invalidArgument(
      `attribute "${key}": Vault takes only the common name from the pod; ${role} sets the other subject fields ` +
        `(its organization, ou, country, … settings); use "${ATTRIBUTE.commonName}" instead`,
    );
  }
}
