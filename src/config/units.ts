/** Parsers for the human-friendly sizes and durations used in flags, config and attributes. */

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go-style duration ("30s", "1h30m", "500ms") into milliseconds, the
 * format Kubernetes users already write. Returns undefined when malformed.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const [, amount = '', unit = ''] = match;
    total += Number(amount) * (DURATION_UNITS_MS[unit] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  K: 1_000,
  M: 1_000_000,
  G: 1_000_000_000,
  Ki: 1_024,
  Mi: 1_048_576,
  Gi: 1_073_741_824,
};

/** Parses a size in Kubernetes quantity style ("4Mi", "512Ki", "1M", "4096"; a trailing "B" is allowed). */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)\s*(Ki|Mi|Gi|K|M|G)?B?$/.exec(text.trim());
  if (!match) return undefined;
  const [, amount = '', unit = ''] = match;
  const bytes = Number(amount) * (SIZE_UNITS[unit] ?? Number.NaN);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

export function formatBytes(bytes: number): string {
  if (bytes % 1_048_576 === 0) return `${bytes / 1_048_576}Mi`;
  if (bytes % 1_024 === 0) return `${bytes / 1_024}Ki`;
  return `${bytes} bytes`;
}
