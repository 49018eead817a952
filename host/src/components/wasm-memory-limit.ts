/**
 * Caps the linear memories a core Wasm module defines, by rewriting its memory section.
 *
 * Wasm memories are not bounded by V8's heap limits, so a guest that allocates forever would grow to the
 * 4 GiB wasm32 ceiling. Giving every defined memory a `max` makes `memory.grow` fail instead; the guest's
 * allocator then reports out-of-memory (QuickJS throws, Rust aborts), which the sandbox turns into a trap
 * and a replaced instance. Imported memories need no change: the defining module carries the limit.
 */

import { hasWasmMagic, readU32, spliceBytes, wasmSections, writeU32 } from './wasm-binary.js';

const WASM_PAGE = 65536;
const MEMORY_SECTION = 5;

/**
 * Returns a copy of `module` whose defined memories may grow to at most `maxBytes` (rounded down to whole
 * pages, never below a memory's initial size). Modules without a memory section are returned unchanged.
 * Throws `RangeError` when the bytes are not a well-formed Wasm module header and section list.
 */
export function limitMemory(module: Uint8Array, maxBytes: number): Uint8Array {
  if (!hasWasmMagic(module)) throw new RangeError('not a core Wasm module');
  const limitPages = Math.max(1, Math.floor(maxBytes / WASM_PAGE));
  for (const { id, start: pos, contentStart, contentEnd } of wasmSections(module, 'module')) {
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
      return spliceBytes(module, pos, contentEnd, [MEMORY_SECTION, ...writeU32(body.length), ...body]);
    }
  }
  return module;
}
