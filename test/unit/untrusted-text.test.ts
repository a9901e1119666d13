import { describe, expect, it } from 'vitest';
import { EXCERPT_MAX_CHARS, controlCharacterReason, excerpt, excerptIfLong, parserMessage } from '../../src/untrusted-text.js';

describe('excerpt', () => {
  it('quotes a short value whole, JSON-escaped', () => {
    expect(excerpt('web')).toBe('"web"');
    expect(excerpt('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"');
  });

  it('cuts a long value to its first characters and says how long it was', () => {
    const shown = excerpt('x'.repeat(300_000));
    expect(shown).toBe(`"${'x'.repeat(EXCERPT_MAX_CHARS)}"…(300000 characters)`);
    expect(excerpt('abcdef', 3)).toBe('"abc"…(6 characters)');
  });

  it('escapes what JSON leaves raw: DEL, C1, line and paragraph separators, bidirectional controls', () => {
    expect(excerpt('a\u007fb\u0085c\u2028d\u2029e\u202ef\u2066')).toBe('"a\\u007fb\\u0085c\\u2028d\\u2029e\\u202ef\\u2066"');
  });

  it('never ends on half of a surrogate pair', () => {
    expect(excerpt('ab😀cd', 3)).toBe('"ab"…(6 characters)');
  });

  it('leaves short log fields as they are', () => {
    expect(excerptIfLong('local-ca')).toBe('local-ca');
    expect(excerptIfLong(undefined)).toBeUndefined();
    expect(excerptIfLong('p'.repeat(1000))).toBe(`"${'p'.repeat(EXCERPT_MAX_CHARS)}"…(1000 characters)`);
  });

  it('keeps the first line of a parser message, cut when long', () => {
    expect(parserMessage('Bad indentation at line 2\n  x: y\n  ^')).toBe('Bad indentation at line 2');
    expect(parserMessage(`Unresolved alias: ${'a'.repeat(10_000)}`).length).toBeLessThan(200);
  });
});

describe('controlCharacterReason', () => {
  it.each(['tls.crt', 'certs/ca.crt', 'ünïcödé', 'with space', 'emoji-😀'])('accepts %j', (name) => {
    expect(controlCharacterReason(name)).toBeUndefined();
  });

  it.each([
    ['a\u0000b', '0000'],
    ['a\nb', '000A'],
    ['\u001b[31m', '001B'],
    ['del\u007f', '007F'],
    ['c1\u0085', '0085'],
    ['c1\u009f', '009F'],
    ['line\u2028', '2028'],
    ['para\u2029', '2029'],
    ['bidi\u202e', '202E'],
    ['isolate\u2069', '2069'],
  ])('refuses %j, naming U+%s', (name, code) => {
    expect(controlCharacterReason(name)).toMatch(new RegExp(`^contains the control character U\\+${code} `));
  });
});
