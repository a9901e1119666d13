/**
 * A hostile backend on 127.0.0.1, reached through the real driver (real
 * tmpfs, gRPC as the kubelet calls it) by a vault and an aws instance:
 * - a 300 MB answer (a value a pod could store itself) is cut off at the
 *   volume size limit, the socket closed after a few MB at most;
 * - an answer trickled one byte every 2 s ends in DEADLINE_EXCEEDED, and every
 *   socket it held, across retries, is closed right after;
 * - error text that echoes the request (the pod's JWT, X-Vault-Token, the AWS
 *   session token) or runs to 1 MB never reaches the gRPC message or a log
 *   line, beyond a short excerpt.
 */
import { status } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { FILLER, LARGE_VALUE_BYTES, TRICKLE_INTERVAL_MS, startHostileBackend, type HostileBackend } from '../helpers/hostile-backend.js';
import { IS_ROOT, ROOT_REASON, mountsUnder } from '../helpers/system.js';

const MAX_VOLUME_SIZE = '64Ki';
const PROVIDER_TIMEOUT_MS = 8_000;
/** Per-call cap of the Vault instance: above the trickle interval (so only the total deadline can end a call), below the provider timeout (so it retries). */
const VAULT_REQUEST_TIMEOUT = '3s';
/** More than the volume limit plus framing and the loopback socket buffers, far less than the 300 MB answer. */
const MAX_BYTES_SENT = 16 * 1024 * 1024;
/** The longest run of backend text a message or log line may carry. */
const MAX_ECHOED_RUN = 300;

/** A service-account JWT shaped like the apiserver's; the hostile backend echoes it back. */
function podJwt(marker: string): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return [
    encode({ alg: 'RS256', kid: 'hostile-test' }),
    encode({ aud: ['vault', 'sts.amazonaws.com'], sub: 'system:serviceaccount:shop:web', iat: now, exp: now + 3600, jti: marker }),
    encode(`signature-of-the-pod-token-${marker}-${'s'.repeat(40)}`),
  ].join('.');
}

const JWT = podJwt('tenant-secret-jwt');

const VAULT_ATTRIBUTES = {
  provider: 'vault',
  roleName: 'app',
  objects: stringify([{ objectName: 'big', secretPath: 'secret/data/app', secretKey: 'big' }]),
};
/** Enough objects that their answers, each under the limit of one answer, add up to far more than a volume. */
const MANY_OBJECTS = 40;
const MANY_VAULT_ATTRIBUTES = {
  ...VAULT_ATTRIBUTES,
  objects: stringify(Array.from({ length: MANY_OBJECTS }, (_, index) => ({ objectName: `v${index}`, secretPath: `secret/data/app${index}`, secretKey: 'big' }))),
};
const MANY_AWS_ATTRIBUTES = {
  provider: 'aws',
  roleArn: 'arn:aws:iam::123456789012:role/shop-web',
  objects: stringify(Array.from({ length: MANY_OBJECTS }, (_, index) => ({ objectName: `db${index}` }))),
};
const AWS_ATTRIBUTES = {
  provider: 'aws',
  roleArn: 'arn:aws:iam::123456789012:role/shop-web',
  objects: stringify([{ objectName: 'db' }]),
};

function longestRun(text: string, character: string): number {
  let longest = 0;
  let current = 0;
  for (const item of text) {
    current = item === character ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

describe.skipIf(!IS_ROOT)(`a hostile backend (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let backend: HostileBackend;
  let harness: Harness;

  beforeAll(async () => {
    backend = await startHostileBackend();
    harness = await startHarness({
      providers: {
        vault: { type: 'vault', settings: { address: backend.address, auth: { type: 'jwt', mountPath: 'jwt' }, requestTimeout: VAULT_REQUEST_TIMEOUT } },
        aws: { type: 'aws', settings: { region: 'us-east-1', endpoint: backend.address } },
      },
      flags: { 'max-volume-size': MAX_VOLUME_SIZE, 'provider-timeout': `${PROVIDER_TIMEOUT_MS / 1000}s` },
    });
  });
  afterAll(async () => {
    await harness.stop();
    await backend.close();
  });

  const publish = (attributes: Record<string, string>, jwt = JWT) =>
    callError(harness.publish(harness.newVolume(), attributes, { tokens: { vault: jwt, 'sts.amazonaws.com': jwt } }));

  /** What a pod's author or the node's admin could read: the gRPC message (the pod's events) and every log line. */
  const everythingVisible = (details: string): string => `${details}\n${harness.logLines.join('\n')}`;

  describe.each([
    // The vault instance's requestTimeout ends each trickled call before the deadline, so it retries on new sockets.
    ['vault', VAULT_ATTRIBUTES, MANY_VAULT_ATTRIBUTES, 2],
    ['aws', AWS_ATTRIBUTES, MANY_AWS_ATTRIBUTES, 1],
  ])('%s', (name, attributes, manyObjects, trickledCalls) => {
    it('cuts a 300 MB answer off at the volume size limit and closes the socket after a few MB', async () => {
      backend.reset({ mode: 'huge' });
      const error = await publish(attributes);
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.details).toContain('--max-volume-size');
      await vi.waitFor(() => {
        expect(backend.hostileSockets().filter((socket) => socket.closedAt === undefined)).toEqual([]);
      });
      const sent = backend.hostileSockets().reduce((sum, socket) => sum + socket.hostileBytes, 0);
      expect(backend.hostileSockets().length).toBeGreaterThan(0);
      expect(sent).toBeLessThan(MAX_BYTES_SENT);
      expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
    });

    it('stops reading once the answers of one volume add up to more than it can hold, each under the limit', async () => {
      backend.reset({ mode: 'large' });
      const error = await publish(manyObjects);
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      // Refused while downloading (the provider's budget), not after everything was in memory (the core's check of the files).
      expect(error.details).toContain('in all');
      expect(MANY_OBJECTS * LARGE_VALUE_BYTES).toBeGreaterThan(8 * 64 * 1024);
    });

    it('gives up on an answer trickled one byte every 2 s at the deadline, and closes every socket it held', async () => {
      backend.reset({ mode: 'trickle' });
      const error = await publish(attributes);
      expect(error.code).toBe(status.DEADLINE_EXCEEDED);
      const failedAt = Date.now();
      expect(backend.hostileSockets().length).toBeGreaterThanOrEqual(trickledCalls);
      // Closed before the backend would have sent its next byte: the client hung up, no idle timer did.
      await vi.waitFor(
        () => {
          expect(backend.hostileSockets().filter((socket) => socket.closedAt === undefined)).toEqual([]);
        },
        { timeout: TRICKLE_INTERVAL_MS },
      );
      for (const socket of backend.hostileSockets()) expect(socket.closedAt).toBeLessThanOrEqual(failedAt + TRICKLE_INTERVAL_MS);
      expect(mountsUnder(harness.kubeletRoot)).toEqual([]);
    }, 30_000);

    it('keeps the pod token out of messages and logs when the login answer echoes the request', async () => {
      backend.reset({ mode: 'huge', login: 'echo' });
      harness.logLines.length = 0;
      // A token never exchanged before, so no cached login or STS credentials stand in for the exchange.
      const jwt = podJwt(`login-echo-${name}`);
      const error = await publish(attributes, jwt);
      const visible = everythingVisible(error.details);
      for (const part of [jwt, ...jwt.split('.')]) expect(visible).not.toContain(part);
      expect(error.code).toBe(status.PERMISSION_DENIED);
    });

    it('keeps the backend token and the session credentials out of messages and logs when a read error echoes the request', async () => {
      backend.reset({ mode: 'echo' });
      harness.logLines.length = 0;
      const error = await publish(attributes);
      expect(error.code).not.toBe(status.UNKNOWN);
      const visible = everythingVisible(error.details);
      for (const secret of [backend.vaultToken, backend.awsSessionToken, JWT, ...JWT.split('.')]) expect(visible).not.toContain(secret);
      expect(visible).not.toMatch(/Signature=[0-9a-f]{16}/);
    });

    it('passes on only a short excerpt of a 1 MB error text', async () => {
      backend.reset({ mode: 'long-error' });
      harness.logLines.length = 0;
      const error = await publish(attributes);
      expect(error.code).not.toBe(status.UNKNOWN);
      expect(error.details.length).toBeLessThan(1_000);
      expect(longestRun(error.details, FILLER)).toBeLessThanOrEqual(MAX_ECHOED_RUN);
      for (const line of harness.logLines) expect(longestRun(line, FILLER)).toBeLessThanOrEqual(MAX_ECHOED_RUN);
    });
  });
});
