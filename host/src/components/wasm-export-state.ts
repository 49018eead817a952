/**
 * Exports a core Wasm module's mutable state (its defined memories and mutable globals) by rewriting its
 * export section, so the host can snapshot an instance right after initialisation and put it back later.
 *
 * A Wasm HTTP guest must see a fresh instance for every request; instantiating a 12 MB StarlingMonkey component
 * anew each time costs tens of milliseconds. Resetting a used instance instead means restoring what a request
 * may have changed: linear memory and mutable globals (the stack pointer, say). Globals are seldom exported,
 * so every defined mutable global gets an extra export named `__mortar_global_<index>`, and every defined memory
 * `__mortar_memory_<index>` (the guest's own exports are untouched; a second name for the same item is valid
 * Wasm). Tables are not exported: the guests' function tables are filled at instantiation and not changed.
 */

import { hasWasmMagic, readU32, skipLeb, skipLimits, skipName, skipValType, spliceBytes, wasmSections, writeU32 } from './wasm-binary.js';

/** The prefix of the exports added by `exportState`. */
export const STATE_EXPORT_PREFIX = '__mortar_';

const IMPORT_SECTION = 2;
const MEMORY_SECTION = 5;
const GLOBAL_SECTION = 6;
const EXPORT_SECTION = 7;
/** Sections that come after the export section (start, element, data count, code, data). */
const AFTER_EXPORTS = new Set([8, 9, 10, 11, 12]);
const KIND_MEMORY = 2;
const KIND_GLOBAL = 3;

/** Skips a constant expression (up to and including its `end`). */
function skipConstExpr(buf: Uint8Array, pos: number): number {
  for (;;) {
    const op = buf[pos++];
    switch (op) {
      case undefined:
        throw new RangeError('truncated constant expression');
      case 0x0b:
        return pos;
      case 0x41: // i32.const
      case 0x42: // i64.const
      case 0x23: // global.get
      case 0xd2: // ref.func
      case 0xd0: // ref.null
        pos = skipLeb(buf, pos);
        break;
      case 0x43:
        pos += 4;
        break;
      case 0x44:
        pos += 8;
        break;
      case 0x6a:
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        break; // extended-const arithmetic
      default:
        throw new RangeError(`unsupported instruction 0x${op.toString(16)} in a constant expression`);
    }
  }
}

function exportEntry(name: string, kind: number, index: number): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...writeU32(bytes.length), ...bytes, kind, ...writeU32(index)];
}

/**
 * Returns a copy of `module` that also exports each defined memory and each defined mutable global under a
 * `STATE_EXPORT_PREFIX` name; a module defining neither is returned unchanged. Throws `RangeError` when the
 * bytes are not a well-formed core module.
 */
export function exportState(module: Uint8Array): Uint8Array {
  if (!hasWasmMagic(module)) throw new RangeError('not a core Wasm module');
  let importedGlobals = 0;
  let importedMemories = 0;
  let definedMemories = 0;
  const mutableGlobals: number[] = [];
  let exportSection: { start: number; end: number; count: number; bodyStart: number } | undefined;
  let insertAt = module.length;
  for (const { id, start: pos, contentStart, contentEnd } of wasmSections(module, 'module')) {
    if (id === IMPORT_SECTION) {
      let [count, p] = readU32(module, contentStart);
      for (; count > 0; count--) {
        p = skipName(module, skipName(module, p));
        const kind = module[p++]!;
        if (kind === 0) p = skipLeb(module, p);
        else if (kind === 1) p = skipLimits(module, skipValType(module, p));
        else if (kind === KIND_MEMORY) {
          importedMemories++;
          p = skipLimits(module, p);
        } else if (kind === KIND_GLOBAL) {
          importedGlobals++;
          p = skipValType(module, p) + 1;
        } else if (kind === 4) p = skipLeb(module, p + 1);
        else throw new RangeError(`unknown import kind ${kind}`);
      }
    } else if (id === MEMORY_SECTION) {
      [definedMemories] = readU32(module, contentStart);
    } else if (id === GLOBAL_SECTION) {
      let [count, p] = readU32(module, contentStart);
      for (let i = 0; i < count; i++) {
        p = skipValType(module, p);
        if (module[p++] === 1) mutableGlobals.push(importedGlobals + i);
        p = skipConstExpr(module, p);
      }
    } else if (id === EXPORT_SECTION) {
      const [count, bodyStart] = readU32(module, contentStart);
      exportSection = { start: pos, end: contentEnd, count, bodyStart };
    }
    if (AFTER_EXPORTS.has(id) && insertAt === module.length) insertAt = pos;
  }
  const added: number[] = [];
  let addedCount = 0;
  for (let m = 0; m < definedMemories; m++) {
    added.push(...exportEntry(`${STATE_EXPORT_PREFIX}memory_${importedMemories + m}`, KIND_MEMORY, importedMemories + m));
    addedCount++;
  }
  for (const g of mutableGlobals) {
    added.push(...exportEntry(`${STATE_EXPORT_PREFIX}global_${g}`, KIND_GLOBAL, g));
    addedCount++;
  }
  if (addedCount === 0) return module;
  const oldEntries = exportSection ? module.subarray(exportSection.bodyStart, exportSection.end) : new Uint8Array(0);
  const body = [...writeU32((exportSection?.count ?? 0) + addedCount), ...oldEntries, ...added];
  const section = [EXPORT_SECTION, ...writeU32(body.length), ...body];
  const cutStart = exportSection ? exportSection.start : insertAt;
  const cutEnd = exportSection ? exportSection.end : insertAt;
  return spliceBytes(module, cutStart, cutEnd, section);
}
