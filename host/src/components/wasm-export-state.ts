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

import { addExports, exportEntry, hasWasmMagic, importedCounts, readU32, skipLeb, skipValType, wasmSections } from './wasm-binary.js';

/** The prefix of the exports added by `exportState`. */
export const STATE_EXPORT_PREFIX = '__mortar_';

const MEMORY_SECTION = 5;
const GLOBAL_SECTION = 6;
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

/**
 * Returns a copy of `module` that also exports each defined memory and each defined mutable global under a
 * `STATE_EXPORT_PREFIX` name; a module defining neither is returned unchanged. Throws `RangeError` when the
 * bytes are not a well-formed core module.
 */
export function exportState(module: Uint8Array): Uint8Array {
  if (!hasWasmMagic(module)) throw new RangeError('not a core Wasm module');
  const imported = importedCounts(module);
  let definedMemories = 0;
  const mutableGlobals: number[] = [];
  for (const { id, contentStart } of wasmSections(module, 'module')) {
    if (id === MEMORY_SECTION) {
      [definedMemories] = readU32(module, contentStart);
    } else if (id === GLOBAL_SECTION) {
      let [count, p] = readU32(module, contentStart);
      for (let i = 0; i < count; i++) {
        p = skipValType(module, p);
        if (module[p++] === 1) mutableGlobals.push(imported.globals + i);
        p = skipConstExpr(module, p);
      }
    }
  }
  const added: number[][] = [];
  for (let m = 0; m < definedMemories; m++) {
    const index = imported.memories + m;
    added.push(exportEntry(`${STATE_EXPORT_PREFIX}memory_${index}`, KIND_MEMORY, index));
  }
  for (const g of mutableGlobals) added.push(exportEntry(`${STATE_EXPORT_PREFIX}global_${g}`, KIND_GLOBAL, g));
  return added.length === 0 ? module : addExports(module, added);
}
