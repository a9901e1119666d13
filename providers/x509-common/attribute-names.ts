/**
 * The volume attributes every certificate provider understands. Names follow
 * cert-manager's csi-driver, without its `csi.cert-manager.io/` prefix, so
 * that moving a pod over is mostly a change of `driver:`.
 */
export const CERTIFICATE_ATTRIBUTE = {
  commonName: 'common-name',
  organizations: 'organizations',
  literalSubject: 'literal-subject',
  dnsNames: 'dns-names',
  ipSans: 'ip-sans',
  uriSans: 'uri-sans',
  emailSans: 'email-sans',
  duration: 'duration',
  renewBefore: 'renew-before',
  keyAlgorithm: 'key-algorithm',
  keySize: 'key-size',
  keyEncoding: 'key-encoding',
  reusePrivateKey: 'reuse-private-key',
  isCA: 'is-ca',
  keyUsages: 'key-usages',
  extKeyUsages: 'ext-key-usages',
  certificateFile: 'certificate-file',
  privateKeyFile: 'privatekey-file',
  caFile: 'ca-file',
  pkcs12Enable: 'pkcs12-enable',
  pkcs12FileName: 'pkcs12-filename',
  pkcs12Legacy: 'pkcs12-legacy',
  /**
   * Listed only to refuse it with a useful message: cert-manager takes the
   * keystore password from this attribute, keymount never takes a password
   * from volume attributes (anyone who can read the pod can read them).
   */
  pkcs12Password: 'pkcs12-password',
} as const;

/** Every attribute key of a certificate provider (for Provider.attributeKeys). */
export const CERTIFICATE_ATTRIBUTE_KEYS: readonly string[] = Object.freeze(Object.values(CERTIFICATE_ATTRIBUTE));

/** The key of the request's `secrets` (nodePublishSecretRef) that holds the PKCS#12 password. */
export const PKCS12_PASSWORD_SECRET_KEY = 'pkcs12-password';
