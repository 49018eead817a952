/**
 * The `mortar:host/clock` imports, served inside the sandbox worker (no bridge call): the wall and monotonic
 * clocks, a wait that blocks the instance without spinning, and time-zone offsets from the host's ICU data.
 */

/** A formatter per zone; a zone the host does not know maps to `undefined`. */
const formatters = new Map<string, Intl.DateTimeFormat | undefined>();

function formatter(zone: string): Intl.DateTimeFormat | undefined {
  if (!formatters.has(zone)) {
    let f: Intl.DateTimeFormat | undefined;
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      f = undefined; // RangeError: not a zone ICU knows
    }
    formatters.set(zone, f);
  }
  return formatters.get(zone);
}

/** Offset from UTC in milliseconds of `zone` at `atMs` (`""`: the process's local zone), or undefined. */
export function zoneOffsetMs(zone: string, atMs: number): number | undefined {
  if (!Number.isFinite(atMs)) return undefined;
  if (zone === '') return -new Date(atMs).getTimezoneOffset() * 60_000;
  const f = formatter(zone);
  if (!f) return undefined;
  const whole = Math.floor(atMs / 1000) * 1000;
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(whole))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const year = p.year!;
  const local = Date.UTC(year, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  // Date.UTC maps years 0..99 to 1900..1999; setUTCFullYear puts them back.
  const fixed = year >= 0 && year < 100 ? new Date(local).setUTCFullYear(year) : local;
  return fixed - whole;
}

/**
 * The clock imports. `budget()` is how many milliseconds the call being served may still wait (its
 * deadline less the margin host imports keep): `wait-ms` never blocks past it.
 */
export function clockImports(budget: () => number): Record<string, unknown> {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  return {
    nowMs: () => BigInt(Date.now()),
    monotonicMs: () => performance.now(),
    waitMs: (ms: number) => {
      const left = Math.min(Number(ms), budget());
      if (left > 0) Atomics.wait(sleeper, 0, 0, left);
    },
    zoneOffsetMs: (zone: string, atMs: bigint | number) => zoneOffsetMs(String(zone), Number(atMs)),
  };
}
