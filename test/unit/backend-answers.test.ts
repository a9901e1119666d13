/**
 * The sanitiser every provider runs a backend's error text through before it
 * reaches a pod's events or a log line: what the request carried never comes
 * back out, in whatever encoding an echoing server chose, and only a short
 * excerpt is kept.
 */
import { describe, expect, it } from 'vitest';
import {
  FETCH_ANSWER_BUDGET_FACTOR,
  MAX_BACKEND_TEXT_LENGTH,
  backendAnswerLimit,
  redactRequestSecrets,
  sanitizeBackendText,
  spendAnswerBytes,
} from '../../src/provider/contract.js';

const JWT = [
  Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url'),
  Buffer.from('{"sub":"system:serviceaccount:shop:web","aud":"vault"}').toString('base64url'),
  'c2lnbmF0dXJlLW9mLXRoZS1wb2QtdG9rZW4',
].join('.');

describe('sanitizeBackendText', () => {
  it.each([
    ['as it was sent', JWT],
    ['URL-encoded', encodeURIComponent(`${JWT}+/`)],
    ['base64-encoded', Buffer.from(JWT).toString('base64')],
    ['inside a JSON string', JSON.stringify({ jwt: JWT })],
    ['one segment alone', JWT.split('.')[1] ?? ''],
  ])('removes the request token %s', (_form, echoed) => {
    const text = sanitizeBackendText(`login refused for ${echoed} sorry`, [JWT]);
    for (const part of JWT.split('.')) expect(text).not.toContain(part);
    expect(text).toContain('login refused for');
  });

  it('removes token-like runs it was not told about, and keeps ordinary words and host names', () => {
    const text = sanitizeBackendText(`permission denied on secret/data/app; token hvs.CAES${'x'.repeat(90)} is not valid`);
    expect(text).toBe('permission denied on secret/data/app; token [REDACTED] is not valid');
    expect(sanitizeBackendText(`signature ${'0123456789abcdef'.repeat(4)} does not match`)).toBe('signature [REDACTED] does not match');
    const name = 'subject alternate name payments-api.payments.svc.cluster.local not allowed by this role';
    expect(sanitizeBackendText(name)).toBe(name);
  });

  it('turns control characters into spaces and keeps a short excerpt of a long text', () => {
    expect(sanitizeBackendText('a\u001b[31mb\r\nc\u0000d')).toBe('a [31mb c d');
    const long = sanitizeBackendText('word '.repeat(200_000));
    expect(long.length).toBeLessThanOrEqual(MAX_BACKEND_TEXT_LENGTH + 1);
    expect(long.endsWith('…')).toBe(true);
  });

  it('keeps line breaks in the request-secret-only step, for a parser that splits lines', () => {
    expect(redactRequestSecrets(`1 error occurred:\n\t* bad token ${JWT}\n`, [JWT])).toBe('1 error occurred:\n\t* bad token [REDACTED]\n');
  });
});

describe('backendAnswerLimit', () => {
  it('leaves room for a volume of base64-encoded bytes plus framing, and no more', () => {
    const limit = backendAnswerLimit(4 * 1024 * 1024);
    expect(limit).toBeGreaterThanOrEqual(Math.ceil((4 * 1024 * 1024 * 4) / 3));
    expect(limit).toBeLessThan(6 * 1024 * 1024);
  });
});

describe('spendAnswerBytes', () => {
  it('gives each fetch (each signal) its own budget of a few answers', () => {
    const first = new AbortController().signal;
    const second = new AbortController().signal;
    for (let answer = 0; answer < FETCH_ANSWER_BUDGET_FACTOR; answer++) expect(spendAnswerBytes(first, 1000, 1000)).toBe(true);
    expect(spendAnswerBytes(first, 1, 1000)).toBe(false);
    expect(spendAnswerBytes(second, 1000, 1000)).toBe(true);
  });
});
