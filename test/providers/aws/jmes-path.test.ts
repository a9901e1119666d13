/** The jmesPath subset: what it finds in JSON, and what it refuses to parse. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JmesPathSyntaxError, compileJmesPath, jmesResultBytes, searchJson } from '../../../providers/aws/jmes-path.js';

const DOCUMENT = {
  username: 'app',
  'db-password': 'p@ss',
  nested: { port: 5432, tls: true, hosts: ['a.example', 'b.example'], deeper: [{ key: 'k0' }, { key: 'k1' }] },
  matrix: [[1, 2], [3, 4]],
  empty: null,
};

function search(expression: string): unknown {
  return searchJson(DOCUMENT, compileJmesPath(expression));
}

describe('jmesPath subset', () => {
  it.each([
    ['username', 'app'],
    ['"db-password"', 'p@ss'],
    ['nested.port', 5432],
    ['nested . tls', true],
    ['nested.hosts[0]', 'a.example'],
    ['nested.hosts[-1]', 'b.example'],
    ['nested.deeper[1].key', 'k1'],
    ['nested."hosts"[ 1 ]', 'b.example'],
    ['matrix[1][0]', 3],
    ['nested.hosts', ['a.example', 'b.example']],
  ])('%s finds %j', (expression, expected) => {
    expect(search(expression)).toEqual(expected);
  });

  it.each(['missing', 'username.length', 'nested.hosts[2]', 'nested.port[0]', 'empty', 'matrix.a'])('%s finds nothing', (expression) => {
    expect(search(expression)).toBeUndefined();
  });

  it('searches from a top-level array', () => {
    expect(searchJson([{ a: 'x' }], compileJmesPath('[0].a'))).toBe('x');
  });

  it.each(['', 'a.', 'a..b', '.a', 'a[', 'a[x]', 'a[0:1]', 'a[*]', 'a[]', 'a.*', 'a | b', 'length(a)', '"unterminated', 'a b', '@', 'a[?b]', '"bad \\q escape"'])(
    'refuses %j',
    (expression) => {
      expect(() => compileJmesPath(expression)).toThrow(JmesPathSyntaxError);
    },
  );

  it('writes strings as text and everything else as JSON', () => {
    expect(jmesResultBytes('plain').toString()).toBe('plain');
    expect(jmesResultBytes(5432).toString()).toBe('5432');
    expect(jmesResultBytes(true).toString()).toBe('true');
    expect(jmesResultBytes({ a: [1] }).toString()).toBe('{"a":[1]}');
  });

  it('finds any value by the quoted path of its keys (property)', () => {
    const key = fc.string({ minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(fc.array(key, { minLength: 1, maxLength: 5 }), fc.string(), (keys, value) => {
        const document = keys.reduceRight<unknown>((inner, name) => ({ [name]: inner }), value);
        const expression = keys.map((name) => JSON.stringify(name)).join('.');
        expect(searchJson(document, compileJmesPath(expression))).toBe(value);
      }),
    );
  });
});
