/**
 * Caps the linear memories a core Wasm module defines, by rewriting its memory section.
 *
 * Wasm memories are not bounded by V8's heap limits, so a guest that allocates forever would grow to the
 * 4 GiB wasm32 ceiling. Giving every defined memory a `max` makes `memory.grow` fail instead; the guest's
 * allocator then reports out-of-memory (QuickJS throws, Rust aborts), which the sandbox turns into a trap
 * and a replaced instance. Imported memories need no change: the defining module carries the limit.
 */

const WASM_PAGE = 65536;
const MEMORY_SECTION = 5;

function readU32(buf: Uint8Array, pos: number): [value: number, next: number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    if (byte === undefined) throw new RangeError('truncated LEB128');
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7;
    if (shift > 35) throw new RangeError('LEB128 too long');
  }
}

function writeU32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/**
 * Returns a copy of `module` whose defined memories may grow to at most `maxBytes` (rounded down to whole
 * pages, never below a memory's initial size). Modules without a memory section are returned unchanged.
 * Throws `RangeError` when the bytes are not a well-formed Wasm module header and section list.
 */
export function limitMemory(module: Uint8Array, maxBytes: number): Uint8Array {
  if (module.length < 8 || module[0] !== 0x00 || module[1] !== 0x61 || module[2] !== 0x73 || module[3] !== 0x6d) {
    throw new RangeError('not a core Wasm module');
  }
  const limitPages = Math.max(1, Math.floor(maxBytes / WASM_PAGE));
  let pos = 8;
  while (pos < module.length) {
    const id = module[pos]!;
    const [size, contentStart] = readU32(module, pos + 1);
    const contentEnd = contentStart + size;
    if (contentEnd > module.length) throw new RangeError('section runs past the end of the module');
    if (id === MEMORY_SECTION) {
      const body: number[] = [];
      let p = contentStart;
      const [count, afterCount] = readU32(module, p);
      p = afterCount;
      body.push(...writeU32(count));
      for (let i = 0; i < count; i++) {
        const flags = module[p++]!;
        if (flags & 0x04) return module; // memory64: leave alone
        const [min, afterMin] = readU32(module, p);
        p = afterMin;
        let max: number | undefined;
        if (flags & 0x01) {
          const [m, afterMax] = readU32(module, p);
          max = m;
          p = afterMax;
        }
        const capped = Math.max(min, Math.min(max ?? limitPages, limitPages));
        body.push(flags | 0x01, ...writeU32(min), ...writeU32(capped));
      }
      if (p !== contentEnd) throw new RangeError('malformed memory section');
      const header = [MEMORY_SECTION, ...writeU32(body.length)];
      const out = new Uint8Array(pos + header.length + body.length + (module.length - contentEnd));
      out.set(module.subarray(0, pos), 0);
      out.set(header, pos);
      out.set(body, pos + header.length);
      out.set(module.subarray(contentEnd), pos + header.length + body.length);
      return out;
    }
    pos = contentEnd;
  }
  return module;
}
