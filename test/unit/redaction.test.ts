import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { Sensitive, redact } from '../../src/redaction.js';

describe('redaction by construction', () => {
  it('never prints a Sensitive value, however it is converted', () => {
    const secret = new Sensitive('hunter2');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[REDACTED]"}');
    expect(String(secret)).toBe('[REDACTED]');
    expect(inspect({ secret })).not.toContain('hunter2');
    expect(secret.reveal()).toBe('hunter2');
  });

  it('drops sensitive keys and buffers at any depth', () => {
    const record = redact({
      volumeId: 'v1',
      request: { secrets: { password: 'p' }, volume_context: { 'csi.storage.k8s.io/serviceAccount.tokens': '{"vault":{}}' } },
      files: [{ path: 'tls.key', contents: Buffer.from('KEY') }],
      privateKey: 'PEM',
    });
    expect(record).toEqual({
      volumeId: 'v1',
      request: { secrets: '[REDACTED]', volume_context: { 'csi.storage.k8s.io/serviceAccount.tokens': '[REDACTED]' } },
      files: [{ path: 'tls.key', contents: '[REDACTED]' }],
      privateKey: '[REDACTED]',
    });
  });

  it('redacts what a careless call site hands the logger', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', pretty: false, destination: { write: (line: string) => lines.push(line) } });
    logger.info({ token: 'eyJhbGciOi', nested: { jwt: 'eyJ2' }, body: Buffer.from('-----BEGIN PRIVATE KEY-----') }, 'careless');
    logger.error({ err: Object.assign(new Error('boom'), { cause: { secret: 'deep' } }) }, 'failed');
    const text = lines.join('');
    expect(text).toContain('careless');
    expect(text).toContain('boom');
    for (const leaked of ['eyJhbGciOi', 'eyJ2', 'BEGIN PRIVATE KEY', 'deep']) expect(text).not.toContain(leaked);
  });
});
