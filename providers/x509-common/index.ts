/**
 * What certificate providers (local-ca, vault-pki) share: the pod's
 * certificate attributes, keys generated on the node, CSRs, the volume's
 * files (PEM and PKCS#12) and renewal. Not a provider itself; like providers,
 * it imports from src/ only the provider contract.
 *
 * A provider's fetch, in order:
 *
 *   const unchanged = issued.unchanged(request);            // a republish before renewal is due
 *   if (unchanged) return unchanged;
 *   const password = pkcs12Password(attributes, request.secrets); // before issuing: fails fast
 *   const limited = checkIssuanceRate(limiter, request, limit);  // a renewal deferred, or RESOURCE_EXHAUSTED
 *   if (limited) return limited;
 *   const work = { tenant: request.pod.namespace, signal };
 *   const keyPair = await keys.keyFor(request.volumeId, attributes.key, attributes.reusePrivateKey, work);
 *   … sign in certificateWork.signing.run(work, …) (createCsr(attributes, keyPair) for a remote CA) …
 *   const refreshAt = renewalTime({ issuedAt, notAfter }, attributes.renewBeforeMs);
 *   issued.remember(request.volumeId, serialNumber, refreshAt);
 *   return { files: await certificateFiles(attributes, material, password),
 *            versions: { [CERTIFICATE_VERSION_KEY]: serialNumber }, notAfter, refreshAt };
 *
 * and release(volumeId) calls keys.forget(volumeId) and issued.forget(volumeId).
 */

// Attributes: names, parsing, the parsed shape.
export { CERTIFICATE_ATTRIBUTE, CERTIFICATE_ATTRIBUTE_KEYS, PKCS12_PASSWORD_SECRET_KEY } from './attribute-names.js';
export {
  parseCertificateAttributes,
  spiffeId,
  type CertificateAttributeOptions,
  type CertificateAttributes,
  type FileNames,
  type NameKind,
  type Pkcs12Options,
  type RequestedNames,
} from './attributes.js';
export type { DistinguishedName, NameAttribute } from './distinguished-name.js';
export {
  DistinguishedNameError,
  EMAIL_TYPES,
  OID,
  attributeTypeName,
  attributeTypeOid,
  emailAddressesOf,
} from './distinguished-name.js';
export {
  DEFAULT_KEY_USAGES,
  KEY_USAGE_NAMES,
  allowedUsages,
  extendedUsageName,
  keyUsageBits,
} from './key-usages.js';
export type { EcdsaCurve, KeyAlgorithm, KeyEncoding, KeySpec, RsaModulusLength } from './key-spec.js';
export type { BasicKeyUsageName, KeyUsages } from './key-usages.js';

// Keys, certificate content, CSRs.
export { KeyStore, encodePrivateKeyPem, generateKeyPair, type NodeKeyPair } from './keys.js';
export { certificateExtensions, subjectName, type CertificateContent } from './extensions.js';
export { createCsr, type CertificateSigningRequest } from './csr.js';
export { importSigningKey, signingParametersFor, type SignatureAlgorithm, type SigningParameters } from './signing.js';

// The volume's files and renewal.
export { PKCS12_KEY_ALIAS, certificateFiles, pkcs12Password, type IssuedMaterial } from './files.js';
export { CERTIFICATE_VERSION_KEY, IssuedCertificates, renewalTime, type Validity } from './renewal.js';

// Bounding the CPU one tenant can take: fair queues for the heavy work, a per-volume issuance rate.
export { FairWorkQueue, certificateWork, type WorkContext } from './work-pool.js';
export {
  DEFAULT_MAX_ISSUANCES_PER_MINUTE,
  IssuanceLimiter,
  MAX_ISSUANCES_PER_MINUTE_RANGE,
  checkIssuanceRate,
  type LimitDescription,
} from './issuance-limit.js';

// Building blocks for a provider's own policy and CA handling.
export { ONE_MINUTE_MS, wholeSeconds } from './duration.js';
export { excerpt, isIpAddress } from './names.js';
export {
  POD_VARIABLES,
  TemplateError,
  expandTemplate,
  parseTemplate,
  podTemplateValues,
  type TemplatePart,
  type TemplateValues,
} from './templates.js';
export { x509 } from './x509.js';
