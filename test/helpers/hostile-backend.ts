/**
 * A hostile backend on 127.0.0.1 that speaks just enough Vault (JWT login,
 * mount lookup, KV v2 read) and AWS (STS AssumeRoleWithWebIdentity, Secrets
 * Manager GetSecretValue) to reach the secret read, and then misbehaves as
 * the test asks: a huge answer streamed as fast as the client takes it, an
 * answer trickled one byte at a time, or an error whose text echoes what the
 * request carried (headers and body, tokens included) or is very long.
 *
 * Every socket it accepts is recorded with the bytes written to it and
 * whether it has closed, so tests can check the client really hung up.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type HostileMode = 'huge' | 'trickle' | 'echo' | 'long-error' | 'large';

/** A secret read answered in `mode`; logins and lookups are answered normally unless `login` says otherwise. */
export interface HostileScript {
  mode: HostileMode;
  /** How the Vault login / STS exchange answers: normally, or echoing the request. */
  login: 'ok' | 'echo';
}

export interface SocketRecord {
  readonly opened: number;
  /** Bytes of the misbehaving answer written to this socket. */
  hostileBytes: number;
  /** Whether the misbehaving answer (huge or trickled) ran on this socket. */
  hostile: boolean;
  closedAt: number | undefined;
}

export interface HostileBackend {
  readonly address: string;
  readonly script: HostileScript;
  readonly sockets: SocketRecord[];
  /** The session token handed out by the STS exchange (what Secrets Manager calls then carry). */
  readonly awsSessionToken: string;
  /** The token handed out by the Vault login (what KV reads then carry in X-Vault-Token). */
  readonly vaultToken: string;
  /** Sockets that carried a misbehaving answer. */
  hostileSockets(): SocketRecord[];
  reset(script: Partial<HostileScript>): void;
  close(): Promise<void>;
}

/** The huge answers' size: far beyond any volume, as a pod could store it in a backend itself. */
export const HUGE_BODY_BYTES = 300 * 1024 * 1024;
export const LONG_ERROR_BYTES = 1024 * 1024;
export const TRICKLE_INTERVAL_MS = 2_000;
/** The size of each answer in "large" mode: a valid answer, under the limit of one answer. */
export const LARGE_VALUE_BYTES = 100 * 1024;
/** What the long errors are made of, so a test can find runs of it in messages and logs. */
export const FILLER = 'E';

const CHUNK = Buffer.alloc(64 * 1024, 'A');

export async function startHostileBackend(): Promise<HostileBackend> {
  const sockets: SocketRecord[] = [];
  const records = new WeakMap<Socket, SocketRecord>();
  const script: HostileScript = { mode: 'huge', login: 'ok' };
  const awsSessionToken = `FwoGZXIvYXdzEHostileSessionToken${'Q'.repeat(40)}`;
  const vaultToken = `hvs.HostileVaultToken${'V'.repeat(40)}`;

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const record = records.get(request.socket);
      route(request, response, body, record);
    });
  });
  server.on('connection', (socket: Socket) => {
    const record: SocketRecord = { opened: Date.now(), hostileBytes: 0, hostile: false, closedAt: undefined };
    sockets.push(record);
    records.set(socket, record);
    socket.on('close', () => {
      record.closedAt = Date.now();
    });
  });

  function route(request: IncomingMessage, response: ServerResponse, body: string, record: SocketRecord | undefined): void {
    const url = request.url ?? '/';
    const target = String(request.headers['x-amz-target'] ?? '');
    // What an attacker would echo first: the credentials, then the body (the pod's JWT), then the rest.
    const { authorization, 'x-vault-token': vaultTokenHeader, 'x-amz-security-token': sessionTokenHeader } = request.headers;
    const echo = JSON.stringify({ vaultTokenHeader, sessionTokenHeader, authorization, body: tokenFirst(body), headers: request.headers });
    if (url.startsWith('/v1/auth/')) {
      if (script.login === 'echo') json(response, 400, { errors: [`login refused; you sent ${echo}`] });
      else json(response, 200, { auth: { client_token: vaultToken, accessor: 'acc', lease_duration: 3600, renewable: false } });
    } else if (url.startsWith('/v1/sys/internal/ui/mounts/')) {
      json(response, 200, { data: { path: 'secret/', type: 'kv', options: { version: '2' } } });
    } else if (url.startsWith('/v1/')) {
      misbehave(response, record, echo, 'vault');
    } else if (body.includes('Action=AssumeRoleWithWebIdentity')) {
      // STS speaks the query protocol (a form body); Secrets Manager speaks JSON with X-Amz-Target.
      if (script.login === 'echo') stsError(response, echo);
      else stsCredentials(response, awsSessionToken);
    } else if (target.endsWith('.GetSecretValue') || target.endsWith('.DescribeSecret')) {
      misbehave(response, record, echo, 'aws');
    } else {
      json(response, 400, { __type: 'UnknownOperationException', message: 'not in this hostile backend' });
    }
  }

  function misbehave(response: ServerResponse, record: SocketRecord | undefined, echo: string, kind: 'vault' | 'aws'): void {
    switch (script.mode) {
      case 'echo':
        if (kind === 'vault') json(response, 403, { errors: [`permission denied; you sent ${echo}`] });
        else json(response, 400, { __type: 'AccessDeniedException', message: `denied; you sent ${echo}` });
        return;
      case 'long-error':
        if (kind === 'vault') json(response, 403, { errors: [FILLER.repeat(LONG_ERROR_BYTES)] });
        else json(response, 400, { __type: 'AccessDeniedException', message: FILLER.repeat(LONG_ERROR_BYTES) });
        return;
      case 'huge': {
        if (record !== undefined) record.hostile = true;
        const head =
          kind === 'vault'
            ? '{"data":{"data":{"big":"'
            : '{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:db","Name":"db","VersionId":"v1","SecretString":"';
        streamHuge(response, record, head);
        return;
      }
      case 'trickle':
        if (record !== undefined) record.hostile = true;
        trickle(response, record);
        return;
      case 'large': {
        const value = 'L'.repeat(LARGE_VALUE_BYTES);
        if (kind === 'vault') json(response, 200, { data: { data: { big: value }, metadata: { version: 1 } } });
        else json(response, 200, { ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db', Name: 'db', VersionId: 'v1', SecretString: value });
        return;
      }
    }
  }

  const address = await new Promise<string>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });

  return {
    address,
    script,
    sockets,
    awsSessionToken,
    vaultToken,
    hostileSockets: () => sockets.filter((socket) => socket.hostile),
    reset(next) {
      Object.assign(script, { mode: 'huge', login: 'ok' }, next);
      // Pooled connections carry on into the next test: only what they carry from now on counts.
      for (const socket of sockets) Object.assign(socket, { hostile: false, hostileBytes: 0 });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** An STS form body from its WebIdentityToken on, so the token is not beyond a message's cut-off. */
function tokenFirst(body: string): string {
  const at = body.indexOf('WebIdentityToken');
  return at >= 0 ? body.slice(at) : body;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** As fast as the client reads it (backpressure respected), until HUGE_BODY_BYTES or the client hangs up. */
function streamHuge(response: ServerResponse, record: SocketRecord | undefined, head: string): void {
  // Chunked, no length: the client learns only by counting that the answer does not fit.
  response.writeHead(200, { 'content-type': 'application/json' });
  response.write(head);
  let sent = 0;
  const pump = (): void => {
    while (sent < HUGE_BODY_BYTES && !response.destroyed) {
      sent += CHUNK.length;
      if (record !== undefined) record.hostileBytes += CHUNK.length;
      if (!response.write(CHUNK)) {
        response.once('drain', pump);
        return;
      }
    }
    if (!response.destroyed) response.end('"}');
  };
  pump();
}

function trickle(response: ServerResponse, record: SocketRecord | undefined): void {
  // Chunked, no length: nothing tells the client in advance that the answer will not fit.
  response.writeHead(200, { 'content-type': 'application/json' });
  response.write('{');
  const timer = setInterval(() => {
    if (response.destroyed) return;
    if (record !== undefined) record.hostileBytes += 1;
    response.write(' ');
  }, TRICKLE_INTERVAL_MS);
  response.on('close', () => {
    clearInterval(timer);
  });
}

function stsCredentials(response: ServerResponse, sessionToken: string): void {
  const expiration = new Date(Date.now() + 3_600_000).toISOString();
  const xml =
    '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>' +
    `<Credentials><AccessKeyId>ASIAHOSTILE0000000001</AccessKeyId><SecretAccessKey>hostile-secret-access-key-${'K'.repeat(20)}</SecretAccessKey>` +
    `<SessionToken>${sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
    '</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>';
  response.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  response.end(xml);
}

function stsError(response: ServerResponse, echo: string): void {
  const escaped = echo.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const xml =
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>' +
    `<Message>refused; you sent ${escaped}</Message></Error><RequestId>1</RequestId></ErrorResponse>`;
  response.writeHead(400, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  response.end(xml);
}
