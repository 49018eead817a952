/**
 * Helpers the binding components share: the `binding-error` values, host errors mapped onto them, and the
 * Go formats Dapr's bindings read and write (durations, `time.Time` strings, `strconv.Unquote`, base64,
 * `kit/strings.IsTruthy`), so a component answers byte for byte as its components-contrib original.
 */
import type { InvokeRequest, InvokeResponse } from 'mortar:component/output-binding@0.1.0';
import { monotonicMs, nowMs } from 'mortar:host/clock@0.1.0';
import { hostPayload, utf8Encode, type Pairs } from './guest.js';

/** A WIT `binding-error` value, thrown from a binding export to return `err(...)`. */
export interface BindingError {
  tag: 'invalid-argument' | 'not-supported' | 'not-found' | 'unavailable' | 'other';
  val: string;
}

/** Marks the binding-errors a component made itself, told apart from a host import's `{tag, val}`. */
const OWN = 'mortarBindingError';

export function bindingError(tag: BindingError['tag'], val: string): BindingError {
  // Not enumerable: the WIT lowering reads `tag` and `val` only.
  return Object.defineProperty({ tag, val }, OWN, { value: true, enumerable: false });
}

/** Whether a thrown value is a binding-error the component made itself (passed on unchanged). */
function isBindingError(e: unknown): e is BindingError {
  return typeof e === 'object' && e !== null && (e as Record<string, unknown>)[OWN] === true;
}

/**
 * Converts whatever a host import threw into a binding-error: `unavailable` stays (the backend is down),
 * `not-found` stays, a path or request the host found invalid is `invalid-argument`, and everything else
 * (a refused grant, a statement or reply error) is `other` with the host's message. `what` prefixes it.
 */
export function bindingFromHost(err: unknown, what = ''): BindingError {
  if (isBindingError(err)) return err;
  const e = hostPayload(err);
  const pre = what === '' ? '' : `${what}: `;
  if (e && typeof e === 'object' && typeof e.tag === 'string') {
    const text = typeof e.val === 'string' ? e.val : typeof e.val === 'number' ? `statement ${e.val}` : e.tag;
    switch (e.tag) {
      case 'unavailable':
        return bindingError('unavailable', `${pre}${text}`);
      case 'not-found':
        return bindingError('not-found', `${pre}${text}`);
      case 'invalid-path':
      case 'invalid-request':
      case 'invalid-argument':
        return bindingError('invalid-argument', `${pre}${text}`);
      case 'access-denied':
        return bindingError('other', `${pre}access denied: ${text}`);
      default:
        return bindingError('other', `${pre}${text}`);
    }
  }
  return bindingError('other', `${pre}${e?.message ?? String(err)}`);
}

/**
 * A metadata value looked up as `kit/metadata.GetMetadataProperty` does: the first of `keys` present,
 * compared case-insensitively.
 */
export function prop(m: Pairs | Record<string, string>, ...keys: string[]): string | undefined {
  const entries = Array.isArray(m) ? m : Object.entries(m);
  for (const k of keys) {
    const lk = k.toLowerCase();
    for (const [name, v] of entries) if (name.toLowerCase() === lk) return v;
  }
  return undefined;
}

/** `kit/strings.IsTruthy`: `y`, `yes`, `true`, `t`, `on`, `1`, case-insensitive, trimmed. */
export function isTruthy(v: string | undefined): boolean {
  return /^(y|yes|true|t|on|1)$/i.test((v ?? '').trim());
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's `time.ParseDuration`, in milliseconds; undefined when `text` is not a Go duration. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s[0] === '-' ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/.exec(s);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) return undefined;
    total += Number(`${m[1] || '0'}.${m[2] || '0'}`) * UNITS[m[3]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Go's `time.Duration.String()` of a duration in nanoseconds (`1.5s`, `2m3s`, `850µs`, `0s`). */
export function formatGoDuration(ns: number): string {
  let n = Math.round(ns);
  if (n === 0) return '0s';
  const neg = n < 0;
  n = Math.abs(n);
  const trim = (whole: number, frac: number, digits: number): string => {
    const f = String(frac).padStart(digits, '0').replace(/0+$/, '');
    return f === '' ? String(whole) : `${whole}.${f}`;
  };
  let out: string;
  if (n < 1000) out = `${n}ns`;
  else if (n < 1e6) out = `${trim(Math.floor(n / 1e3), n % 1e3, 3)}µs`;
  else if (n < 1e9) out = `${trim(Math.floor(n / 1e6), n % 1e6, 6)}ms`;
  else {
    const totalS = Math.floor(n / 1e9);
    const secs = `${trim(totalS % 60, n % 1e9, 9)}s`;
    const h = Math.floor(totalS / 3600);
    const m = Math.floor((totalS % 3600) / 60);
    out = h > 0 ? `${h}h${m}m${secs}` : m > 0 ? `${m}m${secs}` : secs;
  }
  return neg ? `-${out}` : out;
}

/** Fractional seconds as Go's `.999999999` layouts print them: digits of `ms`'s millisecond, zeros trimmed. */
function fraction(ms: number): string {
  const f = String(((Math.floor(ms) % 1000) + 1000) % 1000)
    .padStart(3, '0')
    .replace(/0+$/, '');
  return f === '' ? '' : `.${f}`;
}

/** `time.Time.Format(time.RFC3339Nano)` of a UTC instant: `2026-12-01T13:37:22.123Z`. */
export function rfc3339Nano(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}${fraction(ms)}Z`;
}

/** `time.Now().UTC().String()`: `2026-12-01 13:37:22.123 +0000 UTC`. */
export function goUtcString(ms: number): string {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction(ms)} +0000 UTC`;
}

/**
 * `metadata.TryGetTTL` of components-contrib: `ttl` or `ttlInSeconds` (case-insensitive), a Go duration or
 * a whole number of seconds above zero. Returns milliseconds, undefined when absent; throws invalid-argument.
 */
export function ttlMs(m: Pairs): number | undefined {
  const raw = prop(m, 'ttl', 'ttlInSeconds');
  if (raw === undefined || raw === '') return undefined;
  const d = parseGoDuration(raw);
  if (d !== undefined) return Math.max(0, d);
  if (!/^[-+]?\d+$/.test(raw)) throw bindingError('invalid-argument', `ttl value must be a valid integer: actual is '${raw}'`);
  const n = Number(raw);
  if (n <= 0) throw bindingError('invalid-argument', `ttl value must be higher than zero: actual is '${n}'`);
  return n * 1000;
}

/** `metadata.TryGetPriority`: `priority` as an integer clamped to 0..255; throws invalid-argument. */
export function priorityOf(m: Pairs): number | undefined {
  const raw = m.find(([k]) => k === 'priority')?.[1];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[-+]?\d+$/.test(raw)) throw bindingError('invalid-argument', `priority value must be a valid integer: actual is '${raw}'`);
  return Math.min(255, Math.max(0, Number(raw)));
}

/** A response with data and metadata, in the WIT shape. */
export function response(data: Uint8Array | string, metadata: Pairs = [], contentType?: string): InvokeResponse {
  return { data: typeof data === 'string' ? utf8Encode(data) : data, metadata, contentType };
}

/** Throws not-supported for an operation the component does not offer (the host checks first; this is the guard). */
export function unsupported(r: InvokeRequest, offered: readonly string[]): never {
  throw bindingError('not-supported', `operation '${r.operation}' is not supported (supported: ${offered.join(', ')})`);
}

let state = [0, 0, 0, 0];
let seeded = false;

/** xoshiro128** over 32-bit words, seeded from the host clocks: QuickJS's own Math.random is the same after every start. */
function next32(): number {
  if (!seeded) {
    const now = Number(nowMs());
    const mono = monotonicMs();
    const seed = [now >>> 0, (now / 2 ** 32) >>> 0, (mono * 1e6) >>> 0, (Math.random() * 2 ** 32) >>> 0];
    state = seed.map((s, i) => (s ^ Math.imul(0x9e3779b9, i + 1)) >>> 0);
    if (!state.some((s) => s !== 0)) state[0] = 1;
    seeded = true;
    for (let i = 0; i < 16; i++) next32();
  }
  const [a, b, c, d] = state as [number, number, number, number];
  const result = Math.imul((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25), 9) >>> 0;
  const t = (b << 9) >>> 0;
  let nc = (c ^ a) >>> 0;
  let nd = (d ^ b) >>> 0;
  const nb = (b ^ nc) >>> 0;
  const na = (a ^ nd) >>> 0;
  nc = (nc ^ t) >>> 0;
  nd = ((nd << 11) | (nd >>> 21)) >>> 0;
  state = [na, nb, nc, nd];
  return result;
}

/** A random (version 4) UUID, as `uuid.NewRandom` makes for a file without a name. */
export function uuid4(): string {
  const b: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = next32();
    b.push(w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255);
  }
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Go's `base64.StdEncoding.DecodeString`: padded standard alphabet, `\r` and `\n` skipped, anything else
 * an error (undefined here).
 */
export function base64StdDecode(bytes: Uint8Array): Uint8Array | undefined {
  const chars: number[] = [];
  for (const c of bytes) if (c !== 13 && c !== 10) chars.push(c);
  if (chars.length % 4 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < chars.length; i += 4) {
    const q = chars.slice(i, i + 4).map((c) => (c === 61 ? -2 : B64.indexOf(String.fromCharCode(c))));
    if (q.some((v) => v === -1)) return undefined;
    const pad = q.filter((v) => v === -2).length;
    // Padding only at the very end: `xx==` or `xxx=`.
    if (pad > 0 && (i + 4 !== chars.length || q[0] === -2 || q[1] === -2 || (q[2] === -2 && q[3] !== -2))) return undefined;
    const [a, b, c, d] = q.map((v) => Math.max(v, 0)) as [number, number, number, number];
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out.push((n >> 16) & 255);
    if (pad < 2) out.push((n >> 8) & 255);
    if (pad < 1) out.push(n & 255);
  }
  return new Uint8Array(out);
}

/**
 * Go's `strconv.Unquote` on bytes: a `"..."` string with Go's escapes, a `` `...` `` raw string, or a
 * `'x'` rune. Undefined when the bytes are not one such literal.
 */
export function goUnquote(b: Uint8Array): Uint8Array | undefined {
  const n = b.length;
  if (n < 2) return undefined;
  const q = b[0]!;
  if (q !== b[n - 1] || (q !== 34 && q !== 39 && q !== 96)) return undefined;
  const body = b.subarray(1, n - 1);
  if (q === 96) {
    if (body.includes(96)) return undefined;
    return body.filter((c) => c !== 13);
  }
  const out: number[] = [];
  const push = (cp: number) => {
    for (const x of utf8Encode(String.fromCodePoint(cp))) out.push(x);
  };
  const hex = (from: number, len: number): number | undefined => {
    const s = String.fromCharCode(...body.subarray(from, from + len));
    return s.length === len && /^[0-9a-fA-F]+$/.test(s) ? parseInt(s, 16) : undefined;
  };
  let runes = 0;
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    runes++;
    if (c === q || c === 10) return undefined;
    if (c !== 92) {
      out.push(c);
      i++;
      if (c >= 0x80) {
        while (i < body.length && (body[i]! & 0xc0) === 0x80) out.push(body[i++]!);
      }
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) return undefined;
    const simple: Record<number, number> = { 97: 7, 98: 8, 102: 12, 110: 10, 114: 13, 116: 9, 118: 11, 92: 92 };
    if (simple[e] !== undefined) {
      out.push(simple[e]!);
      i += 2;
      continue;
    }
    if (e === q) {
      out.push(q);
      i += 2;
      continue;
    }
    if (e === 120) {
      const v = hex(i + 2, 2);
      if (v === undefined) return undefined;
      out.push(v);
      i += 4;
      continue;
    }
    if (e === 117 || e === 85) {
      const len = e === 117 ? 4 : 8;
      const v = hex(i + 2, len);
      if (v === undefined || v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return undefined;
      push(v);
      i += 2 + len;
      continue;
    }
    if (e >= 48 && e <= 55) {
      const s = String.fromCharCode(...body.subarray(i + 1, i + 4));
      if (!/^[0-7]{3}$/.test(s) || parseInt(s, 8) > 255) return undefined;
      out.push(parseInt(s, 8));
      i += 4;
      continue;
    }
    return undefined;
  }
  if (q === 39 && runes !== 1) return undefined;
  return new Uint8Array(out);
}
