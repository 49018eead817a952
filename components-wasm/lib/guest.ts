/**
 * Helpers shared by the built-in components (they run inside QuickJS, which has no TextEncoder).
 */

export type Pairs = Array<[string, string]>;

/** A WIT `state-error` value, thrown from an export to return `err(...)`. */
export interface StateError {
  tag: string;
  val?: string;
}

export function stateError(
  tag: 'etag-mismatch' | 'etag-invalid' | 'not-found' | 'invalid-argument' | 'not-supported' | 'unavailable' | 'other',
  val: string,
): StateError {
  return { tag, val };
}

/** Converts whatever a host import threw (`{tag, val}` payloads) into a state-error value. */
/** The `{tag, val}` a host import threw (the bridge puts it in `payload`), or the thrown value itself. */
export function hostPayload(err: unknown): { tag?: string; val?: unknown; message?: string } | undefined {
  return ((err as { payload?: unknown })?.payload ?? err) as { tag?: string; val?: unknown; message?: string } | undefined;
}

export function fromHostError(err: unknown): StateError {
  const e = hostPayload(err);
  if (e && typeof e === 'object' && typeof e.tag === 'string') {
    if (e.tag === 'etag-mismatch' || e.tag === 'etag-invalid' || e.tag === 'invalid-argument' || e.tag === 'not-supported' || e.tag === 'not-found')
      return e as StateError;
    const text = typeof e.val === 'string' ? e.val : typeof e.val === 'number' ? `statement ${e.val}` : e.tag;
    if (e.tag === 'unavailable' || e.tag === 'access-denied') return { tag: 'unavailable', val: `${e.tag}: ${text}` };
    return { tag: 'other', val: text };
  }
  return { tag: 'other', val: e?.message ?? String(err) };
}

/** Runs `fn`, turning any throw into a state-error (so the guest never traps on a backend error). */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromHostError(err);
  }
}

export function toMap(p: Pairs): Record<string, string> {
  const m: Record<string, string> = {};
  for (const [k, v] of p) m[k] = v;
  return m;
}

/** The latest expiry a store writes or reports: 9999-12-31T23:59:59Z, the last instant RFC 3339 can write. */
export const MAX_EXPIRY_MS = 253402300799000;

/**
 * Reads `ttlInSeconds`: undefined when absent or `-1` (no expiry); throws `invalid-argument` when it is
 * not an integer (Dapr: `ttlInSeconds: foo` is an error) or when now + TTL is after {@link MAX_EXPIRY_MS}.
 * The host checks the same rule before any call; this keeps the component safe on its own.
 */
export function ttlSeconds(metadata: Pairs, nowMs?: number): number | undefined {
  const raw = toMap(metadata).ttlInSeconds;
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw stateError('invalid-argument', `ttlInSeconds: '${raw}' is not an integer`);
  const n = Number(raw);
  if (n === -1) return undefined;
  if (n < -1) throw stateError('invalid-argument', `ttlInSeconds: ${n} must be -1 or greater`);
  if (nowMs !== undefined ? nowMs + n * 1000 > MAX_EXPIRY_MS : n * 1000 > MAX_EXPIRY_MS) {
    throw stateError('invalid-argument', `ttlInSeconds: ${raw} puts the expiry after 9999-12-31T23:59:59Z`);
  }
  return n;
}

/**
 * RFC 3339 without fractional seconds, as Dapr formats `ttlExpireTime`. Total: an expiry read back from a
 * backend (written by anyone, any version) is clamped into 1970..9999, so formatting it can never throw.
 */
export function rfc3339(ms: number): string {
  const t = Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_EXPIRY_MS) : MAX_EXPIRY_MS;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

export function utf8Decode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i++]!;
    let cp: number;
    if (c < 0x80) cp = c;
    else if (c < 0xe0) cp = ((c & 31) << 6) | (b[i++]! & 63);
    else if (c < 0xf0) cp = ((c & 15) << 12) | ((b[i++]! & 63) << 6) | (b[i++]! & 63);
    else cp = ((c & 7) << 18) | ((b[i++]! & 63) << 12) | ((b[i++]! & 63) << 6) | (b[i++]! & 63);
    s += String.fromCodePoint(cp);
  }
  return s;
}

/** The standard metadata schema header, with Dapr's `keyPrefix` handled by the host (not listed here). */
export function schema(properties: Record<string, unknown>, required: string[] = []): string {
  return JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties, required, additionalProperties: false });
}

/**
 * componentize-qjs represents WIT 64-bit integers as JS numbers inside the guest (the generated guest
 * types say `bigint`): pass numbers through this so the types line up. Exact up to 2^53.
 */
export function i64(n: number): bigint {
  return Math.trunc(n) as unknown as bigint;
}

/** A WIT `pubsub-error` value, thrown from a pub/sub export to return `err(...)`. */
export interface PubsubError {
  tag: 'not-found' | 'invalid-argument' | 'not-supported' | 'unavailable' | 'other';
  val: string;
}

export function pubsubError(tag: PubsubError['tag'], val: string): PubsubError {
  return { tag, val };
}

/** Converts whatever a host import threw (`{tag, val}` payloads) into a pubsub-error value. */
export function pubsubFromHost(err: unknown): PubsubError {
  const e = hostPayload(err);
  if (e && typeof e === 'object' && typeof e.tag === 'string') {
    if (e.tag === 'not-found' || e.tag === 'invalid-argument' || e.tag === 'not-supported' || e.tag === 'other' || e.tag === 'unavailable') {
      return { tag: e.tag, val: String(e.val ?? e.tag) };
    }
    const text = typeof e.val === 'string' ? e.val : e.tag;
    if (e.tag === 'access-denied') return { tag: 'unavailable', val: `access-denied: ${text}` };
    return { tag: 'other', val: `${e.tag}: ${text}` };
  }
  return { tag: 'other', val: e?.message ?? String(err) };
}
