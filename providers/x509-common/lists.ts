/** Comma-separated attribute values, as cert-manager's csi-driver writes them. */

/** "a, b,,c " → ["a", "b", "c"]; undefined (attribute not set) → []. */
export function splitList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
