/**
 * Syntax checks for the names a certificate may carry. They run after
 * template expansion, so a pod cannot smuggle a malformed name in through a
 * variable.
 */
import { isIP } from 'node:net';

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_DNS_NAME_LENGTH = 253;
/** X.520 upper bound for a commonName. */
export const MAX_COMMON_NAME_LENGTH = 64;
/** Printable ASCII without spaces: what an IA5String URI SAN may hold unescaped. */
const URI_CHARACTERS = /^[\x21-\x7e]+$/;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
/** RFC 5322 dot-atom: what an rfc822Name SAN's local part may hold (no quoted strings, ASCII only). */
const EMAIL_LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const MAX_EMAIL_LOCAL_PART_LENGTH = 64;
const MAX_EMAIL_ADDRESS_LENGTH = 254;
/** X.520 upper bound for most other subject attributes (organizationName and the like). */
export const MAX_SUBJECT_VALUE_LENGTH = 64;
/** How much of a pod's value a message repeats: enough to recognise it, never a 256 KiB echo. */
/** Pod-supplied values in messages: the core's excerpt (quoted, escaped, cut to a short prefix with the length). */
export { excerpt } from '../../src/provider/contract.js';

/** The domain of an address is case-insensitive; its local part is kept as written. */
export function lowerCaseDomain(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at + 1) + address.slice(at + 1).toLowerCase();
}

/** An RFC 1123 host name (expected lower-case), optionally with a leading `*.` wildcard label. */
export function isDnsName(name: string): boolean {
  if (name.length > MAX_DNS_NAME_LENGTH) return false;
  const labels = name.split('.');
  const hostLabels = labels[0] === '*' && labels.length > 1 ? labels.slice(1) : labels;
  return hostLabels.every((label) => DNS_LABEL.test(label));
}

/** An IPv4 or IPv6 address; zone identifiers ("fe80::1%eth0") have no place in a certificate. */
export function isIpAddress(address: string): boolean {
  return !address.includes('%') && isIP(address) !== 0;
}

/**
 * An absolute URI. `new URL` alone is too lenient: it silently strips tabs,
 * newlines and surrounding spaces, so those are refused first.
 */
export function isUri(uri: string): boolean {
  return URI_CHARACTERS.test(uri) && URL.canParse(uri);
}

export function isCommonName(name: string): boolean {
  return isSubjectValue(name, MAX_COMMON_NAME_LENGTH);
}

/** A subject attribute value: 1 to `maxLength` characters, no control characters. */
export function isSubjectValue(value: string, maxLength = MAX_SUBJECT_VALUE_LENGTH): boolean {
  return value.length > 0 && value.length <= maxLength && !CONTROL_CHARACTERS.test(value);
}

/**
 * An email address for an rfc822Name SAN: `local@domain`, the local part a
 * dot-atom, the domain a host name (expected lower-case, no wildcard).
 */
export function isEmailAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at < 1 || address.length > MAX_EMAIL_ADDRESS_LENGTH) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  return (
    local.length <= MAX_EMAIL_LOCAL_PART_LENGTH &&
    EMAIL_LOCAL_PART.test(local) &&
    domain.includes('.') &&
    !domain.startsWith('*') &&
    isDnsName(domain)
  );
}
