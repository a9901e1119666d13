/**
 * The subset of JMESPath that picks one field out of a JSON secret: field
 * names (bare `user_name` or quoted `"db-password"`), dots between them, and
 * array indexes (`hosts[0]`, `hosts[-1]` counts from the end). That covers
 * what `jmesPath` entries of secrets-store AWS objects are used for; filters,
 * projections, slices and functions are refused when the pod is admitted
 * rather than silently matching nothing.
 */

export type JmesStep = { readonly kind: 'field'; readonly name: string } | { readonly kind: 'index'; readonly index: number };

export class JmesPathSyntaxError extends Error {
  override readonly name = 'JmesPathSyntaxError';
}

const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_]/;

/** Parses an expression of the supported subset into steps; throws JmesPathSyntaxError saying where it stops. */
export function compileJmesPath(expression: string): readonly JmesStep[] {
  const steps: JmesStep[] = [];
  let position = skipBlanks(expression, 0);
  if (position === expression.length) throw new JmesPathSyntaxError('is empty');
  let expectField = true;
  while (position < expression.length) {
    const char = expression.charAt(position);
    if (char === '[') {
      const { index, end } = readIndex(expression, position);
      steps.push({ kind: 'index', index });
      position = end;
    } else if (expectField || char === '.') {
      if (!expectField) position = skipBlanks(expression, position + 1);
      const { name, end } = readIdentifier(expression, position);
      steps.push({ kind: 'field', name });
      position = end;
    } else {
      throw unsupported(expression, position);
    }
    expectField = false;
    position = skipBlanks(expression, position);
  }
  return Object.freeze(steps);
}

/** Follows the steps through parsed JSON; undefined when a step finds nothing (JMESPath's null). */
export function searchJson(document: unknown, steps: readonly JmesStep[]): unknown {
  let current = document;
  for (const step of steps) {
    if (step.kind === 'field') {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
      current = Object.hasOwn(current, step.name) ? (current as Record<string, unknown>)[step.name] : undefined;
    } else {
      if (!Array.isArray(current)) return undefined;
      current = current.at(step.index) as unknown;
    }
    if (current === undefined || current === null) return undefined;
  }
  return current;
}

/** A string is written as its text; numbers, booleans, objects and arrays as JSON. */
export function jmesResultBytes(value: unknown): Buffer {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
}

function readIdentifier(expression: string, start: number): { name: string; end: number } {
  const first = expression.charAt(start);
  if (first === '"') return readQuotedIdentifier(expression, start);
  if (!IDENTIFIER_START.test(first)) {
    throw new JmesPathSyntaxError(
      start >= expression.length
        ? 'ends where a field name is expected'
        : `expects a field name at position ${start + 1}; quote names that contain other characters than letters, digits and "_" ('"my-key"')`,
    );
  }
  let end = start + 1;
  while (end < expression.length && IDENTIFIER_PART.test(expression.charAt(end))) end += 1;
  return { name: expression.slice(start, end), end };
}

function readQuotedIdentifier(expression: string, start: number): { name: string; end: number } {
  let end = start + 1;
  while (end < expression.length && expression.charAt(end) !== '"') end += expression.charAt(end) === '\\' ? 2 : 1;
  if (end >= expression.length) throw new JmesPathSyntaxError(`has an unterminated quoted name starting at position ${start + 1}`);
  try {
    // A quoted JMESPath identifier is a JSON string.
    return { name: JSON.parse(expression.slice(start, end + 1)) as string, end: end + 1 };
  } catch {
    throw new JmesPathSyntaxError(`has an invalid escape in the quoted name starting at position ${start + 1}`);
  }
}

function readIndex(expression: string, start: number): { index: number; end: number } {
  const match = /^\[\s*(-?\d{1,9})\s*\]/.exec(expression.slice(start));
  if (match?.[1] === undefined) throw unsupported(expression, start);
  return { index: Number(match[1]), end: start + match[0].length };
}

function unsupported(expression: string, position: number): JmesPathSyntaxError {
  return new JmesPathSyntaxError(
    `uses syntax keymount does not support at position ${position + 1} ("${expression.slice(position, position + 10)}"): ` +
      'only field names, "." and [index] are supported',
  );
}

function skipBlanks(expression: string, position: number): number {
  let next = position;
  while (next < expression.length && /\s/.test(expression.charAt(next))) next += 1;
  return next;
}
