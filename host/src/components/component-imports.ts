/**
 * The import names of a component, with their versions (`wasi:http/types@0.2.3`), read from its top-level
 * import sections. jco's transpile reports imports without versions; a workload's imports are checked by
 * version (`sandbox/workload-imports.ts` `unservedImport`).
 */

import { hasWasmMagic, readU32, wasmSections } from './wasm-binary.js';

const COMPONENT_IMPORT_SECTION = 10;

/** Skips an `externdesc` (what an import is: a module, function, value, type, component or instance). */
function skipExternDesc(buf: Uint8Array, pos: number): number {
  const kind = buf[pos++];
  switch (kind) {
    case 0x00: // core module: 0x11 typeidx
      return readU32(buf, pos + 1)[1];
    case 0x01: // func
    case 0x02: // value (a primitive byte or a type index)
    case 0x04: // component
    case 0x05: // instance
      return readU32(buf, pos)[1];
    case 0x03: // type: eq typeidx | sub resource
      return buf[pos] === 0x00 ? readU32(buf, pos + 1)[1] : pos + 1;
    default:
      throw new RangeError(`unknown import kind ${kind}`);
  }
}

/** The names a component imports, as written (with versions). Throws `RangeError` on a malformed component. */
export function componentImportNames(component: Uint8Array): string[] {
  if (!hasWasmMagic(component) || component[6] !== 0x01) {
    throw new RangeError('not a Wasm component');
  }
  const names: string[] = [];
  const utf8 = new TextDecoder();
  for (const { id, contentStart: start } of wasmSections(component, 'component')) {
    if (id === COMPONENT_IMPORT_SECTION) {
      let [count, p] = readU32(component, start);
      for (; count > 0; count--) {
        const tag = component[p++]; // 0x00: plain name, 0x01: interface name (older encodings)
        if (tag !== 0x00 && tag !== 0x01) throw new RangeError(`unknown import name tag ${tag}`);
        const [len, q] = readU32(component, p);
        names.push(utf8.decode(component.subarray(q, q + len)));
        p = skipExternDesc(component, q + len);
      }
    }
  }
  return names;
}
