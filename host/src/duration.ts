/**
 * Go's `time.ParseDuration` format, which Dapr resources use everywhere (`5s`, `1m30s`, `250ms`).
 */

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
// Sticky: each part must start where the last one ended, so a bad string fails at its first bad character
// (an unanchored global scan would retry from every position: quadratic on a long string of digits).
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Milliseconds in a Go duration such as `1m30s` or `250ms` (`0` alone is allowed, as in Go); undefined when
 * `text` is not one. Negative durations are refused: nothing in a resource means "before now".
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '0') return 0;
  if (t === '') return undefined;
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < t.length) {
    const p = PART.exec(t);
    if (p === null) return undefined;
    ms += Number(p[1]) * UNIT_MS[p[2]!]!;
  }
  return ms;
}
