/**
 * Reading and splicing the Wasm binary format: LEB128 numbers, the module/component header and the section
 * list. Shared by the rewriters and readers of core modules and components (`wasm-export-state.ts`,
 * `wasm-memory-limit.ts`, `component-imports.ts`); every malformed input is a `RangeError`.
 */

/** Reads an unsigned LEB128 (at most 35 bits) at `pos`; returns the value and the position after it. */
export function readU32(buf: Uint8Array, pos: number): [value: number, next: number] {
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

/** Skips a signed or unsigned LEB128 of any length; returns the position after it. */
export function skipLeb(buf: Uint8Array, pos: number): number {
  for (;;) {
    const byte = buf[pos++];
    if (byte === undefined) throw new RangeError('truncated LEB128');
    if ((byte & 0x80) === 0) return pos;
  }
}

/** Encodes `value` as an unsigned LEB128. */
export function writeU32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

/** Whether `buf` starts with the Wasm magic `\0asm` and is long enough to hold a version (8 bytes). */
export function hasWasmMagic(buf: Uint8Array): boolean {
  return buf.length >= 8 && buf[0] === 0x00 && buf[1] === 0x61 && buf[2] === 0x73 && buf[3] === 0x6d;
}

/** One section of a module or component: its id, where it starts (the id byte) and where its content lies. */
export interface WasmSection {
  id: number;
  start: number;
  contentStart: number;
  contentEnd: number;
}

/**
 * The sections after the 8-byte header, in order. `what` names the binary in the error thrown when a section
 * runs past its end (`module`, `component`).
 */
export function* wasmSections(buf: Uint8Array, what: string): Generator<WasmSection> {
  let pos = 8;
  while (pos < buf.length) {
    const id = buf[pos]!;
    const [size, contentStart] = readU32(buf, pos + 1);
    const contentEnd = contentStart + size;
    if (contentEnd > buf.length) throw new RangeError(`section runs past the end of the ${what}`);
    yield { id, start: pos, contentStart, contentEnd };
    pos = contentEnd;
  }
}

/** A copy of `buf` with the bytes from `start` to `end` replaced by `bytes`. */
export function spliceBytes(buf: Uint8Array, start: number, end: number, bytes: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(start + bytes.length + (buf.length - end));
  out.set(buf.subarray(0, start), 0);
  out.set(bytes, start);
  out.set(buf.subarray(end), start + bytes.length);
  return out;
}

/** Skips a name (a length and that many bytes); returns the position after it. */
export function skipName(buf: Uint8Array, pos: number): number {
  const [len, p] = readU32(buf, pos);
  return p + len;
}

/** Skips memory or table limits (flags, minimum, and the maximum when flag bit 0 says there is one). */
export function skipLimits(buf: Uint8Array, pos: number): number {
  const flags = buf[pos++]!;
  pos = skipLeb(buf, pos);
  return flags & 0x01 ? skipLeb(buf, pos) : pos;
}

/** Skips a value type (a number type, or a reference type with its optional heap type). */
export function skipValType(buf: Uint8Array, pos: number): number {
  const t = buf[pos];
  return t === 0x63 || t === 0x64 ? skipLeb(buf, pos + 1) : pos + 1;
}

const IMPORT_SECTION = 2;
const EXPORT_SECTION = 7;
/** Sections that come after the export section (start, element, data count, code, data). */
const AFTER_EXPORTS = new Set([8, 9, 10, 11, 12]);

/** How many memories and globals a module imports (they come first in their index spaces). */
export function importedCounts(buf: Uint8Array): { memories: number; globals: number } {
  const counts = { memories: 0, globals: 0 };
  for (const { id, contentStart } of wasmSections(buf, 'module')) {
    if (id !== IMPORT_SECTION) continue;
    let [count, p] = readU32(buf, contentStart);
    for (; count > 0; count--) {
      p = skipName(buf, skipName(buf, p));
      const kind = buf[p++];
      if (kind === 0x00) p = skipLeb(buf, p);
      else if (kind === 0x01) p = skipLimits(buf, skipValType(buf, p));
      else if (kind === 0x02) {
        counts.memories++;
        p = skipLimits(buf, p);
      } else if (kind === 0x03) {
        counts.globals++;
        p = skipValType(buf, p) + 1;
      } else if (kind === 0x04) p = skipLeb(buf, p + 1);
      else throw new RangeError(`unknown import kind ${kind}`);
    }
  }
  return counts;
}

/** One export section entry: its name, kind (2 memory, 3 global, ...) and index. */
export function exportEntry(name: string, kind: number, index: number): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...writeU32(bytes.length), ...bytes, kind, ...writeU32(index)];
}

/** A copy of `module` whose export section also holds `entries` (`exportEntry`); one is made where there was none. */
export function addExports(module: Uint8Array, entries: readonly number[][]): Uint8Array {
  let section: { start: number; end: number; count: number; bodyStart: number } | undefined;
  let insertAt = module.length;
  for (const { id, start, contentStart, contentEnd } of wasmSections(module, 'module')) {
    if (id === EXPORT_SECTION) {
      const [count, bodyStart] = readU32(module, contentStart);
      section = { start, end: contentEnd, count, bodyStart };
    }
    if (AFTER_EXPORTS.has(id) && insertAt === module.length) insertAt = start;
  }
  const old = section ? module.subarray(section.bodyStart, section.end) : new Uint8Array(0);
  const body = [...writeU32((section?.count ?? 0) + entries.length), ...old, ...entries.flat()];
  return spliceBytes(module, section?.start ?? insertAt, section?.end ?? insertAt, [EXPORT_SECTION, ...writeU32(body.length), ...body]);
}
