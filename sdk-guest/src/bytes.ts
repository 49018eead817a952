/** Text and JSON to bytes and back: what every building block carries is bytes. */

/** The engine's TextEncoder/TextDecoder where it has them (StarlingMonkey), else the SDK's own UTF-8 (QuickJS has none). */
interface Codec {
  encode(s: string): Uint8Array;
  decode(b: Uint8Array): string;
}
const g = globalThis as { TextEncoder?: new () => { encode(s: string): Uint8Array }; TextDecoder?: new () => { decode(b: Uint8Array): string } };
const encoder: Pick<Codec, 'encode'> = g.TextEncoder ? new g.TextEncoder() : { encode: utf8Encode };
const decoder: Pick<Codec, 'decode'> = g.TextDecoder ? new g.TextDecoder() : { decode: utf8Decode };

/** UTF-8 bytes of `s` (lone surrogates become U+FFFD). */
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

/** The text of UTF-8 bytes `b` (a truncated sequence becomes U+FFFD). */
export function utf8Decode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i++]!;
    const n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    if (i + n > b.length) return `${s}\ufffd`;
    let cp = n === 0 ? c : c & (0x3f >> n);
    for (let k = 0; k < n; k++) cp = (cp << 6) | (b[i++]! & 63);
    s += String.fromCodePoint(cp);
  }
  return s;
}

/** A value as bytes: bytes as they are, a string as UTF-8, anything else as JSON text. */
export type Body = Uint8Array | string | object | number | boolean | null;

/** The bytes of `v`, and whether they are JSON (for a content type). */
export function toBytes(v: Body): { bytes: Uint8Array; json: boolean } {
  if (v instanceof Uint8Array) return { bytes: v, json: false };
  if (typeof v === 'string') return { bytes: encoder.encode(v), json: false };
  return { bytes: encoder.encode(JSON.stringify(v)), json: true };
}

/** UTF-8 text of `b`. */
export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

/** `b` parsed as JSON; throws a SyntaxError naming what was being read. */
export function json<T = unknown>(b: Uint8Array, what = 'value'): T {
  try {
    return JSON.parse(decoder.decode(b)) as T;
  } catch (e) {
    throw new SyntaxError(`${what} is not JSON: ${(e as Error).message}`);
  }
}

/** Metadata as WIT carries it (pairs), from a plain object. */
export function pairs(m: Readonly<Record<string, string>> | undefined): Array<[string, string]> {
  return m ? Object.entries(m) : [];
}
