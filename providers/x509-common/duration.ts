/** Time helpers for certificate lifetimes; durations themselves are parsed by the core's parseDuration. */

export const ONE_MINUTE_MS = 60_000;

/** X.509 times have one-second precision; rounding down keeps reported and encoded times equal. */
export function wholeSeconds(milliseconds: number): Date {
  return new Date(Math.floor(milliseconds / 1000) * 1000);
}
