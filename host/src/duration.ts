/**
 * Go's `time.ParseDuration` format, which Dapr resources use everywhere (`5s`, `1m30s`, `250ms`).
 */

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
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

/**
 * A whole number of milliseconds written as Go's `time.Duration.String` writes it (`500ms`, `5s`, `1.5s`,
 * `1m30s`, `1h0m0s`), as Dapr reports durations (the metadata API's app-health settings).
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = `${Number(((ms % 60_000) / 1000).toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${s}`;
  return m > 0 ? `${m}m${s}` : s;
}
