import { isIP } from 'node:net';

/** Where an HTTP endpoint (metrics, health) listens. An empty host means every interface of the pod. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

const HOST_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i;

/**
 * Parses "HOST:PORT", "[IPV6]:PORT" or ":PORT" (no interface named), the forms
 * Kubernetes components take for their --metrics-bind-address style flags,
 * and "[IPV4]:PORT", so "[$(POD_IP)]:PORT" works in IPv4 and IPv6 clusters.
 * Returns undefined when malformed.
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const [, rawHost = '', rawPort = ''] = match;
  const port = Number(rawPort);
  if (port > 65_535) return undefined;
  if (rawHost.startsWith('[')) {
    const host = rawHost.slice(1, -1);
    return isIP(host) !== 0 ? { host, port } : undefined;
  }
  // All digits and dots: an IPv4 address or nothing (never a host name).
  if (/^[\d.]+$/.test(rawHost)) return isIP(rawHost) === 4 ? { host: rawHost, port } : undefined;
  if (rawHost !== '' && !HOST_NAME.test(rawHost)) return undefined;
  return { host: rawHost, port };
}

/** The address as a URL authority, for log lines and links. */
export function formatListenAddress(address: ListenAddress): string {
  const host = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}
