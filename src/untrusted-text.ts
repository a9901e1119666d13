/**
 * Text a pod (or a backend it controls) supplied, made safe to show and to use
 * as a file name: error messages quote at most a short, escaped excerpt of it,
 * and file names carry no control characters.
 */

/** How much of an attacker's value a message shows: enough to find it in the pod spec, never a payload. */
export const EXCERPT_MAX_CHARS = 64;

/**
 * Characters that control a terminal or a log viewer rather than print: C0 (U+0000–U+001F), DEL, C1
 * (U+0080–U+009F), the Unicode line and paragraph separators, and the bidirectional overrides and isolates,
 * which make a name display as another.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER.source, 'gu');

/**
 * `value` JSON-quoted, cut to its first `maxChars` characters ("…" and the total length mark a cut), with
 * every control character escaped, so a message never carries a 256 KiB attribute or a forged log line.
 */
export function excerpt(value: string, maxChars = EXCERPT_MAX_CHARS): string {
  const cut = value.length > maxChars;
  let shown = cut ? value.slice(0, maxChars) : value;
  // Never end on half of a surrogate pair.
  if (cut && /[\ud800-\udbff]$/.test(shown)) shown = shown.slice(0, -1);
  // JSON escapes C0 and quotes; it leaves DEL, C1, the separators and the bidi controls as they are.
  const quoted = JSON.stringify(shown).replace(CONTROL_CHARACTERS, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut ? `${quoted}…(${value.length} characters)` : quoted;
}

/** For a structured log field (the logger escapes it): the value itself when short, else an excerpt. */
export function excerptIfLong(value: string | undefined): string | undefined {
  return value === undefined || value.length <= EXCERPT_MAX_CHARS ? value : excerpt(value);
}

/** Messages of parsers (YAML) quote the input they choke on: their first line, as an excerpt when it is long. */
export function parserMessage(message: string): string {
  const firstLine = message.split('\n')[0] ?? '';
  return firstLine.length <= 2 * EXCERPT_MAX_CHARS ? firstLine : excerpt(firstLine);
}

/** Why `name` cannot be a file name because of a control character in it, or undefined when it has none. */
export function controlCharacterReason(name: string): string | undefined {
  const found = CONTROL_CHARACTER.exec(name);
  if (found === null) return undefined;
  const code = (found[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `contains the control character U+${code} (C0, DEL, C1, line or paragraph separators and bidirectional controls are refused)`;
}
