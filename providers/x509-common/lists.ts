/** Comma-separated attribute values, as cert-manager's csi-driver writes them. */
import { invalidArgument } from '../../src/provider/contract.js';

/**
 * The most items a list attribute (dns-names, uri-sans, ip-sans, email-sans,
 * organizations) may hold. Each item costs a syntax check and a policy match,
 * so the count is bounded before any item is looked at.
 */
export const MAX_LIST_ITEMS = 100;

/**
 * "a, b,,c " → ["a", "b", "c"]; undefined (attribute not set) → []. Throws
 * INVALID_ARGUMENT naming the attribute when it holds more than `maxItems`
 * items; a value with far too many commas is refused before it is split.
 */
export function splitList(attribute: string, value: string | undefined, maxItems = MAX_LIST_ITEMS): string[] {
  if (value === undefined) return [];
  if (countCommas(value, maxItems * 4) >= maxItems * 4) throw tooManyItems(attribute, maxItems);
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length > maxItems) throw tooManyItems(attribute, maxItems);
  return items;
}

/** Commas in `value`, counting no further than `limit`. */
function countCommas(value: string, limit: number): number {
  let count = 0;
  for (let index = value.indexOf(','); index !== -1 && count < limit; index = value.indexOf(',', index + 1)) count++;
  return count;
}

function tooManyItems(attribute: string, maxItems: number): Error {
  return invalidArgument(`attribute "${attribute}": lists more than ${maxItems} items; a certificate may carry at most ${maxItems}`);
}
