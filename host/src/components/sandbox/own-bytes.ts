/**
 * Byte views that cross to a sandbox worker by themselves. `postMessage` clones the whole buffer under a
 * typed array, not just its view: a small Node `Buffer` (a view into the shared 8 KiB pool) would carry
 * 8 KiB to the worker for every call, and the worker would collect it again (measured: about 12 KiB
 * allocated per output-binding call, and a major GC every 150 ms in the worker under load).
 */

/** Deepest nesting searched for views (call arguments are records of lists of records, a few levels). */
const MAX_DEPTH = 8;

/**
 * Replaces, in place, every `Uint8Array` in `value` (itself, or in its arrays and plain objects) that views
 * part of a larger buffer by a copy of exactly its bytes. Returns `value` (or the copy, if `value` is such a
 * view). Call arguments are built for the call, so changing them in place is safe; only such a view is
 * replaced (by a plain `Uint8Array` of the same bytes), nothing else is written.
 */
export function ownBytes<T>(value: T, depth = 0): T {
  // `new Uint8Array(view)` copies (a Buffer's own `slice` would not).
  if (value instanceof Uint8Array) return (value.byteLength === value.buffer.byteLength ? value : new Uint8Array(value)) as T;
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v === null || typeof v !== 'object') continue;
      const own = ownBytes(v, depth + 1);
      if (own !== v) value[i] = own;
    }
    return value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (v === null || typeof v !== 'object') continue;
    const own = ownBytes(v, depth + 1);
    if (own !== v) o[k] = own;
  }
  return value;
}
