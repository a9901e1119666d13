/**
 * `${VARIABLE}` expansion for pod attributes and providers' policy patterns.
 * Templates are parsed once into parts, so policy patterns can be checked for
 * unknown variables when the driver starts and expanded cheaply for each pod.
 */
import { excerpt, type PodIdentity } from '../../src/provider/contract.js';

export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'variable'; readonly name: string };

/** Variables a pod's attributes may use. */
export const POD_VARIABLES = ['POD_NAME', 'POD_NAMESPACE', 'POD_UID', 'SERVICE_ACCOUNT_NAME'] as const;

export type TemplateValues = Readonly<Record<string, string>>;

/** A malformed template; callers turn it into their own error kind. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const OPEN = '${';

/** Splits a template into text and variables; `$` not followed by `{` is text. */
export function parseTemplate(template: string, knownVariables: readonly string[]): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let rest = template;
  for (let start = rest.indexOf(OPEN); start !== -1; start = rest.indexOf(OPEN)) {
    const end = rest.indexOf('}', start + OPEN.length);
    if (end === -1) throw new TemplateError(`unterminated "\${" in ${excerpt(template)}`);
    const name = rest.slice(start + OPEN.length, end);
    if (!knownVariables.includes(name)) {
      throw new TemplateError(`unknown variable ${excerpt(`\${${name}}`)} (known: ${knownVariables.map((known) => `\${${known}}`).join(', ')})`);
    }
    if (start > 0) parts.push({ kind: 'text', text: rest.slice(0, start) });
    parts.push({ kind: 'variable', name });
    rest = rest.slice(end + 1);
  }
  if (rest !== '') parts.push({ kind: 'text', text: rest });
  return parts;
}

/** Joins the parts, replacing each variable with its value (passed through `encodeValue`). */
export function expandTemplate(
  parts: readonly TemplatePart[],
  values: TemplateValues,
  encodeValue: (value: string) => string = (value) => value,
): string {
  return parts.map((part) => (part.kind === 'text' ? part.text : encodeValue(values[part.name] ?? ''))).join('');
}

export function podTemplateValues(pod: PodIdentity): TemplateValues {
  return {
    POD_NAME: pod.name,
    POD_NAMESPACE: pod.namespace,
    POD_UID: pod.uid,
    SERVICE_ACCOUNT_NAME: pod.serviceAccountName,
  };
}
