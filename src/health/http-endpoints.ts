/**
 * Plain HTTP servers for /metrics, /healthz and /readyz. Paths asked for on
 * the same address share one server, so --metrics-addr and --health-addr may
 * name the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logging/logger.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';

export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export type Route = () => Promise<HttpResponse>;

export interface Endpoint {
  readonly address: ListenAddress;
  /** Path → handler, e.g. { '/metrics': … }. */
  readonly routes: Readonly<Record<string, Route>>;
}

export interface HttpEndpoints {
  /** The address each path is served on, with the port actually bound (for ":0"). */
  readonly urls: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export async function startHttpEndpoints(endpoints: readonly Endpoint[], logger: Logger): Promise<HttpEndpoints> {
  const byAddress = new Map<string, { address: ListenAddress; routes: Record<string, Route> }>();
  for (const endpoint of endpoints) {
    const key = formatListenAddress(endpoint.address);
    const entry = byAddress.get(key) ?? { address: endpoint.address, routes: {} };
    Object.assign(entry.routes, endpoint.routes);
    byAddress.set(key, entry);
  }
  const servers: Server[] = [];
  const urls: Record<string, string> = {};
  try {
    for (const { address, routes } of byAddress.values()) {
      const server = createServer((request, response) => {
        handle(routes, request, response, logger);
      });
      servers.push(server);
      const bound = await listen(server, address).catch((error: unknown) => {
        const detail = error instanceof Error ? error.message : String(error);
        throw new Error(`cannot serve ${Object.keys(routes).join(', ')} on ${formatListenAddress(address)}: ${detail}`, { cause: error });
      });
      for (const path of Object.keys(routes)) urls[path] = `http://${bound}${path}`;
    }
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    throw error;
  }
  return {
    urls,
    close: async () => {
      await Promise.all(servers.map(closeServer));
    },
  };
}

function handle(routes: Readonly<Record<string, Route>>, request: IncomingMessage, response: ServerResponse, logger: Logger): void {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const route = routes[path];
  if (route === undefined) {
    reply(response, { status: 404, contentType: 'text/plain; charset=utf-8', body: `not found; try ${Object.keys(routes).join(', ')}\n` }, false);
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    reply(response, { status: 405, contentType: 'text/plain; charset=utf-8', body: 'method not allowed\n' }, false);
    return;
  }
  route().then(
    (result) => {
      reply(response, result, request.method === 'HEAD');
    },
    (error: unknown) => {
      logger.error({ path, err: error }, 'HTTP endpoint failed');
      reply(response, { status: 500, contentType: 'text/plain; charset=utf-8', body: 'internal error; see the driver log\n' }, false);
    },
  );
}

function reply(response: ServerResponse, result: HttpResponse, headOnly: boolean): void {
  response.writeHead(result.status, { 'Content-Type': result.contentType, 'Cache-Control': 'no-store' });
  response.end(headOnly ? undefined : result.body);
}

function listen(server: Server, address: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = (): void => {
      server.off('error', reject);
      const info = server.address() as AddressInfo;
      resolve(formatListenAddress({ host: address.host === '' ? info.address : address.host, port: info.port }));
    };
    // An empty host: every interface (IPv6 and IPv4 where the node has both).
    if (address.host === '') server.listen(address.port, onListening);
    else server.listen(address.port, address.host, onListening);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => {
      resolve();
    });
    // Scrapers keep connections alive; close() alone would wait for them.
    server.closeAllConnections();
  });
}
