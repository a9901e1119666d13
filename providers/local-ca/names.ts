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
  return name.length > 0 && name.length <= MAX_COMMON_NAME_LENGTH && !CONTROL_CHARACTERS.test(name);
}
