/**
 * How Vault answers map to error codes, for the answers a dev server cannot
 * be made to give (rate limits, standby, TLS faults), and the retry policy
 * of VaultApi with a transport that fails on cue.
 */
import { describe, expect, it } from 'vitest';
import { KeymountError } from '../../../src/provider/contract.js';
import { VaultApi } from '../../../providers/vault/api.js';
import type { VaultCall, VaultTransport } from '../../../providers/vault/client.js';
import { toKeymountError } from '../../../providers/vault/errors.js';

/** The transport's VaultHttpError shape: Vault answered with a status. */
function answered(statusCode: number, errors: string[] = []): Error {
  return Object.assign(new Error(errors[0] ?? `Status ${statusCode}`), { response: { statusCode, body: { errors } } });
}

function transportError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

const mapped = (error: unknown): KeymountError => {
  const result = toKeymountError(error, 'reading secretPath "s/a"', 'https://vault:8200');
  if (!(result instanceof KeymountError)) throw new Error('expected a KeymountError');
  return result;
};

describe('error codes', () => {
  it.each([
    [400, 'INVALID_ARGUMENT'],
    [403, 'PERMISSION_DENIED'],
    [404, 'FAILED_PRECONDITION'],
    [405, 'INVALID_ARGUMENT'],
    [412, 'UNAVAILABLE'],
    [429, 'UNAVAILABLE'],
    [473, 'UNAVAILABLE'],
    [500, 'UNAVAILABLE'],
    [503, 'UNAVAILABLE'],
  ])('maps HTTP %i to %s', (status, code) => {
    expect(mapped(answered(status)).code).toBe(code);
  });

  it('tidies Vault multi-error strings and says when the server is sealed', () => {
    expect(mapped(answered(403, ['1 error occurred:\n\t* permission denied\n\n'])).message).toBe(
      'reading secretPath "s/a": Vault answered 403: permission denied',
    );
    const sealed = mapped(answered(503, ['Vault is sealed']));
    expect(sealed.message).toContain('https://vault:8200 is sealed');
  });

  it('maps unreachable servers to UNAVAILABLE and TLS faults to FAILED_PRECONDITION', () => {
    expect(mapped(transportError('ECONNREFUSED')).code).toBe('UNAVAILABLE');
    expect(mapped(transportError('ECONNABORTED')).code).toBe('UNAVAILABLE');
    expect(mapped(Object.assign(new Error('wrapped'), { cause: transportError('EAI_AGAIN') })).message).toContain('EAI_AGAIN');
    const tls = mapped(transportError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
    expect(tls.code).toBe('FAILED_PRECONDITION');
    expect(tls.message).toContain('caFile');
    expect(mapped(transportError('ERR_TLS_CERT_ALTNAME_INVALID')).message).toContain('tlsServerName');
  });

  it('lets a caller read a status its own way, and leaves unknown errors alone', () => {
    expect((toKeymountError(answered(400, ['role "x" could not be found']), 'login', 'a', { 400: 'PERMISSION_DENIED' }) as KeymountError).code).toBe(
      'PERMISSION_DENIED',
    );
    const bug = new TypeError('undefined is not a function');
    expect(toKeymountError(bug, 'x', 'a')).toBe(bug);
  });
});

describe('retries', () => {
  const scripted = (...outcomes: (Error | Record<string, unknown>)[]): { transport: VaultTransport; sent: VaultCall[] } => {
    const sent: VaultCall[] = [];
    return {
      sent,
      transport: {
        send: (call) => {
          sent.push(call);
          const next = outcomes.shift();
          return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
        },
      },
    };
  };
  const noWait = () => Promise.resolve();

  it('retries UNAVAILABLE answers twice, then gives up with the last one', async () => {
    const { transport, sent } = scripted(answered(503, ['Vault is sealed']), answered(429), answered(503, ['Vault is sealed']));
    const error = await new VaultApi(transport, 'a', noWait).call({ method: 'GET', path: 's/a' }, AbortSignal.timeout(5_000), { what: 'x' }).catch((e: unknown) => e);
    expect(sent).toHaveLength(3);
    expect((error as KeymountError).code).toBe('UNAVAILABLE');
  });

  it('succeeds when a retry does, and never retries a refusal', async () => {
    const flaky = scripted(transportError('ECONNRESET'), { data: { ok: true } });
    expect(await new VaultApi(flaky.transport, 'a', noWait).call({ method: 'GET', path: 's/a' }, AbortSignal.timeout(5_000), { what: 'x' })).toEqual({
      data: { ok: true },
    });
    const refused = scripted(answered(403), { data: {} });
    await new VaultApi(refused.transport, 'a', noWait).call({ method: 'GET', path: 's/a' }, AbortSignal.timeout(5_000), { what: 'x' }).catch(() => undefined);
    expect(refused.sent).toHaveLength(1);
  });

  it('stops backing off when the signal aborts and reports the last failure', async () => {
    const { transport } = scripted(answered(503, ['Vault is sealed']), { data: {} });
    const controller = new AbortController();
    const api = new VaultApi(transport, 'a', (_ms, signal) => {
      controller.abort();
      return Promise.reject(signal.reason as Error);
    });
    const error = await api.call({ method: 'GET', path: 's/a' }, controller.signal, { what: 'x' }).catch((e: unknown) => e);
    expect((error as KeymountError).message).toContain('sealed');
  });
});
