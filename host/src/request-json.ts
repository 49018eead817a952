/**
 * Request JSON as daprd decodes it with Go's `encoding/json`: a nesting limit, and object field names matched
 * case-insensitively. Every JSON body the host reads (state, bulk publish, CloudEvents) goes through here.
 */

/**
 * The deepest nesting of arrays and objects a request body may have; deeper is a caller error (400).
 *
 * Go's decoder stops at 10000 levels; mortar's limit is lower because V8's `JSON.stringify`, which re-encodes
 * values on their way to a component, runs out of stack near 4000 levels.
 */
export const MAX_JSON_DEPTH = 1000;

/** A body that is not JSON or is nested too deeply; `message` says which, for the caller. */
export class RequestJsonError extends Error {}

/** A body nested deeper than {@link MAX_JSON_DEPTH}. */
export class JsonTooDeep extends RequestJsonError {}

/**
 * Parses `text` as JSON, refusing nesting deeper than {@link MAX_JSON_DEPTH} before anything recurses over it.
 * Throws {@link RequestJsonError}.
 */
export function parseRequestJson(text: string): unknown {
  // A text shorter than twice the limit cannot open more than the limit and close them all again.
  if (text.length > MAX_JSON_DEPTH * 2 && nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw new JsonTooDeep(`JSON is nested more than ${MAX_JSON_DEPTH} levels deep`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RequestJsonError((err as Error).message);
  }
}

/** Whether arrays/objects in `text` nest deeper than `max` (strings skipped; the text need not be valid). */
export function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // "
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c)
          i++; // \ escapes the next character
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      // [ {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      // ] }
      depth--;
    }
  }
  return false;
}

/**
 * Go's field-name folding for an ASCII field name: ASCII letters ignore case, and the two non-ASCII runes
 * whose simple case fold is ASCII (KELVIN SIGN U+212A for k, LATIN SMALL LETTER LONG S U+017F for s) match too.
 */
function fold(name: string): string {
  return name.replace(/[A-Z\u212a\u017f]/g, (c) => (c === '\u212a' ? 'k' : c === '\u017f' ? 's' : c.toLowerCase()));
}

/** Lookup tables per field list (the lists are module constants, so this stays small). */
const INDEXES = new WeakMap<readonly string[], { exact: Set<string>; folded: Map<string, string> }>();

/**
 * The fields of a decoded JSON object under their canonical names, matched as Go's `encoding/json` matches
 * struct fields: an exact name first, else a case-insensitive one (`entryID` is `entryId`); when several keys
 * match one field, the last in the body wins. Keys matching no field are dropped, as Go drops them.
 * `names` are the canonical spellings (all distinct when folded).
 */
export function goFields<K extends string>(obj: object, names: readonly K[]): { [P in K]?: unknown } {
  const out: { [P in K]?: unknown } = {};
  let index = INDEXES.get(names);
  if (!index) INDEXES.set(names, (index = { exact: new Set(names), folded: new Map(names.map((n) => [fold(n), n])) }));
  for (const [k, v] of Object.entries(obj)) {
    if (index.exact.has(k)) {
      out[k as K] = v;
      continue;
    }
    const name = index.folded.get(fold(k)) as K | undefined;
    if (name !== undefined) out[name] = v;
  }
  return out;
}

/**
 * `value` (as `JSON.parse` made it) encoded as Go's `json.Marshal` encodes the `interface{}` it decoded to,
 * which is how daprd re-marshals a binding request's `data`: object keys sorted (by UTF-8 bytes), `<`, `>`,
 * `&`, U+2028 and U+2029 escaped as `\u003c`..., a lone surrogate replaced by U+FFFD, `-0` kept, numbers in
 * their shortest float64 form (as JavaScript's, which uses the same thresholds for exponents).
 */
export function goMarshal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Object.is(value, -0) ? '-0' : Number.isFinite(value) ? goNumber(value) : 'null';
    case 'string':
      return goString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(goMarshal).join(',')}]`;
      const keys = byUtf8(Object.keys(value));
      return `{${keys.map((k) => `${goString(k)}:${goMarshal((value as Record<string, unknown>)[k])}`).join(',')}}`;
    }
    default:
      return 'null';
  }
}

const SURROGATE = /[\ud800-\udfff]/;

/**
 * `keys` sorted by their UTF-8 bytes, as Go sorts map keys, without encoding them (a body of 4 MiB can hold
 * hundreds of thousands of keys). Without surrogates, UTF-16 code-unit order is code-point order, which is
 * UTF-8 byte order: the plain sort. Otherwise code points are compared, a lone surrogate as the U+FFFD it
 * is encoded as.
 */
function byUtf8(keys: string[]): string[] {
  return keys.some((k) => SURROGATE.test(k)) ? keys.sort(compareCodePoints) : keys.sort();
}

function codePointAt(s: string, i: number): number {
  const c = s.codePointAt(i)!;
  return c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
}

function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = codePointAt(a, i);
    const y = codePointAt(b, j);
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return i < a.length ? 1 : j < b.length ? -1 : 0;
}

/**
 * Go's float64 form: fixed notation from 1e-6 up to 1e21, else an exponent with its leading zeros dropped
 * (`1e-7`, `1e+21`): the thresholds and the shortest digits JavaScript uses.
 */
function goNumber(n: number): string {
  return String(n);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** What `goString` must rewrite after `JSON.stringify`: surrogates (a lone one becomes U+FFFD) and `<>&` U+2028 U+2029. */
const GO_SPECIAL = /[\ud800-\udfff<>&\u2028\u2029]/;

function goString(s: string): string {
  if (!GO_SPECIAL.test(s)) return JSON.stringify(s);
  return JSON.stringify(s.replace(LONE_SURROGATE, '\ufffd')).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
