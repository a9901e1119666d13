/**
 * What a certificate for the pod's attributes says, as X.509 extensions: the
 * same list goes into a CSR (vault-pki) and into a certificate a provider
 * signs itself (local-ca).
 */
import type { Extension, JsonGeneralName, Name } from '@peculiar/x509';
import type { CertificateAttributes, RequestedNames } from './attributes.js';
import { toX509Name } from './distinguished-name.js';
import { keyUsageBits, type BasicKeyUsageName } from './key-usages.js';
import { x509 } from './x509.js';

/** The part of the attributes a certificate's content depends on. */
export type CertificateContent = Pick<
  CertificateAttributes,
  'subject' | 'commonName' | 'dnsNames' | 'ipAddresses' | 'uris' | 'emailAddresses' | 'isCA' | 'keyUsages'
>;

export function subjectName(content: CertificateContent): Name {
  return toX509Name(content.subject);
}

/** basicConstraints, keyUsage, extendedKeyUsage and subjectAltName, as RFC 5280 wants them marked. */
export function certificateExtensions(content: CertificateContent): Extension[] {
  const extensions: Extension[] = [new x509.BasicConstraintsExtension(content.isCA, undefined, true)];
  // A CA certificate is useless without keyCertSign, so it is added rather than demanded.
  const usages: readonly BasicKeyUsageName[] = content.isCA ? [...content.keyUsages.basic, 'cert sign'] : content.keyUsages.basic;
  const usageBits = keyUsageBits(usages);
  // RFC 5280 forbids an empty KeyUsage; when only extended usages are asked for, leave it out.
  if (usageBits !== 0) {
    // KeyUsageFlags is a bit-flag enum, so an OR of its members is a valid value.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
    extensions.push(new x509.KeyUsagesExtension(usageBits, true));
  }
  if (content.keyUsages.extended.length > 0) {
    extensions.push(new x509.ExtendedKeyUsageExtension([...content.keyUsages.extended], false));
  }
  const alternativeNames = subjectAlternativeNames(content);
  if (alternativeNames.length > 0) {
    // RFC 5280 4.2.1.6: with an empty subject, subjectAltName must be critical.
    extensions.push(new x509.SubjectAlternativeNameExtension(alternativeNames, content.subject.length === 0));
  }
  return extensions;
}

function subjectAlternativeNames(names: RequestedNames): JsonGeneralName[] {
  return [
    ...names.dnsNames.map((value): JsonGeneralName => ({ type: 'dns', value })),
    ...names.ipAddresses.map((value): JsonGeneralName => ({ type: 'ip', value })),
    ...names.uris.map((value): JsonGeneralName => ({ type: 'url', value })),
    ...names.emailAddresses.map((value): JsonGeneralName => ({ type: 'email', value })),
  ];
}
