/**
 * Numbers for people: sizes in binary units, rates, durations and counted nouns. --json output
 * never goes through here (it keeps raw bytes and seconds, docs/json.md).
 */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `512 B`, `1.5 KiB`, `50.0 MiB`, `1.2 GiB`: whole bytes below 1 KiB, else one decimal. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(Number.isFinite(n) ? n : 0))} B`;
  let v = n / 1024;
  let i = 0;
  // 1023.96 KiB would print as "1024.0 KiB": move up a unit before rounding does.
  while (v >= 1023.95 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${UNITS[i]}`;
}

/**
 * Bytes per second over `seconds`: `812 B/s`, `3.4 MiB/s`. A transfer too quick to time
 * (under a millisecond) has no meaningful rate: undefined, and the caller leaves it out.
 */
export function formatRate(bytes: number, seconds: number): string | undefined {
  if (!(seconds >= 0.001) || bytes <= 0) return undefined;
  return `${formatBytes(bytes / seconds)}/s`;
}

/** `1 blob`, `2 blobs`; `irregular` for words like `repository`. */
export function plural(n: number, word: string, irregular?: string): string {
  return `${n} ${n === 1 ? word : (irregular ?? `${word}s`)}`;
}

/** Seconds as `0.25 s`, `12.3 s`, `2 min 5 s`. */
export function formatSeconds(s: number): string {
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
