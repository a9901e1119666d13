/**
 * Vault's sign endpoint answers 400 when its PKI role will not sign what the
 * volume asks for (a key type or size, a name, a lifetime). That is a
 * mismatch between the admin's role and the pod's attributes, not a denial:
 * either side can fix it, so the message names the attribute the pod's author
 * can change and the role setting the admin can. The patterns are Vault's and
 * OpenBao's own error strings (builtin/logical/pki), checked against a real
 * OpenBao by test/providers/vault/pki-role-mismatch.test.ts.
 */
import { CERTIFICATE_ATTRIBUTE as ATTRIBUTE } from '../x509-common/index.js';

/** Vault's key_type values, as keymount's key-algorithm attribute spells them. */
const KEY_ALGORITHMS: Readonly<Record<string, string>> = { rsa: 'RSA', ec: 'ECDSA', ed25519: 'Ed25519' };

const NAME_SETTINGS = 'allowed_domains, allow_subdomains, allow_bare_domains, allow_glob_domains or allow_any_name';

interface Mismatch {
  readonly pattern: RegExp;
  /** What to change, given the pattern's match; `role` is `the PKI role "x" at pki/`. */
  readonly fix: (match: RegExpExecArray, role: string) => string;
}

const MISMATCHES: readonly Mismatch[] = [
  {
    // Bounded captures: the text is the server's, and it goes into the pod's message.
    pattern: /role requires keys of type (\w{1,16})\b/,
    fix: ([, keyType = ''], role) => {
      const algorithm = KEY_ALGORITHMS[keyType];
      const attribute = algorithm === undefined ? `attribute "${ATTRIBUTE.keyAlgorithm}"` : `"${ATTRIBUTE.keyAlgorithm}: ${algorithm}"`;
      return `${role} signs only ${keyType} keys (its key_type): set ${attribute} on the volume, or the cluster admin sets key_type=any on the role`;
    },
  },
  {
    pattern: /role requires a minimum of a (\d{1,5})-bit key/,
    fix: ([, bits = ''], role) =>
      `${role} signs only keys of ${bits} bits or more (its key_bits): set "${ATTRIBUTE.keySize}: ${bits}" (or more) on the volume, ` +
      'or the cluster admin lowers key_bits on the role (or sets key_type=any)',
  },
  {
    pattern: /common_name field is required/,
    fix: (_match, role) =>
      `${role} requires a common name (its require_cn): set attribute "${ATTRIBUTE.commonName}" on the volume, ` +
      'or the cluster admin sets require_cn=false on the role',
  },
  {
    pattern: /^common name .* not allowed by this role/,
    fix: (_match, role) =>
      `attribute "${ATTRIBUTE.commonName}" asks for a name ${role} does not allow: use a name the role allows, ` +
      `or the cluster admin changes the role's ${NAME_SETTINGS}`,
  },
  {
    pattern: /^subject alternate name .* not allowed by this role/,
    fix: (_match, role) =>
      `attribute "${ATTRIBUTE.dnsNames}" asks for a name ${role} does not allow: use names the role allows, ` +
      `or the cluster admin changes the role's ${NAME_SETTINGS}`,
  },
  {
    pattern: /^email address .* not allowed by this role/,
    fix: (_match, role) =>
      `attribute "${ATTRIBUTE.emailSans}" asks for an address ${role} does not allow: use addresses in the role's domains, ` +
      `or the cluster admin changes the role's ${NAME_SETTINGS}`,
  },
  {
    pattern: /IP Subject Alternative Names are not allowed in this role/,
    fix: (_match, role) =>
      `${role} allows no IP addresses: remove attribute "${ATTRIBUTE.ipSans}" from the volume, or the cluster admin sets allow_ip_sans=true on the role`,
  },
  {
    pattern: /the IP address .* is not allowed in this role/,
    fix: (_match, role) =>
      `attribute "${ATTRIBUTE.ipSans}" asks for an address outside the allowed_ip_sans_cidr of ${role}: use an address in those ranges, ` +
      'or the cluster admin widens allowed_ip_sans_cidr on the role',
  },
  {
    pattern: /URI Subject Alternative Names are not allowed in this role|URI Subject Alternative Names .* not valid for this role/,
    fix: (_match, role) =>
      `attribute "${ATTRIBUTE.uriSans}" (or the SPIFFE ID the instance's trustDomain gives) asks for a URI ${role} does not allow: ` +
      'use a URI that matches the role\'s allowed_uri_sans, or the cluster admin adds it to allowed_uri_sans on the role',
  },
  {
    pattern: /beyond the expiration of the CA certificate/,
    fix: (_match, role) =>
      `attribute "${ATTRIBUTE.duration}" asks for a certificate that would outlive the CA of ${role}, whose issuer refuses that: ` +
      'ask for a shorter duration, or the cluster admin renews the CA or sets leaf_not_after_behavior=truncate on the issuer',
  },
  {
    pattern: /^unknown role: /,
    fix: (_match, role) => `${role} does not exist: the cluster admin must create it, or correct the instance's pkiRole (or pkiMount) setting`,
  },
];

/**
 * The fix for a refusal of the sign endpoint, when Vault's error strings show
 * one of the known mismatches; undefined otherwise.
 */
export function roleMismatchFix(vaultMessages: readonly string[], pkiMount: string, pkiRole: string): string | undefined {
  const role = `the PKI role "${pkiRole}" at ${pkiMount}/`;
  for (const message of vaultMessages) {
    for (const mismatch of MISMATCHES) {
      const match = mismatch.pattern.exec(message);
      if (match !== null) return mismatch.fix(match, role);
    }
  }
  return undefined;
}
