/**
 * Whether a `.wasm` was built the way the sidecar runs components, and if not, what to say about it.
 *
 * Each check names what is wrong with the file and ends with how to build it right (`HOW_TO_BUILD`), so a
 * refusal caused by the toolchain is told apart from one caused by the component's code or its YAML.
 */
import { MortarError } from '../errors.js';
import type { Block } from './descriptor.js';
import { HOW_TO_BUILD } from './toolchain.js';
import { BLOCKS, BUILDING_BLOCKS, COMPONENT_PACKAGE, LIFECYCLE, blockExporting } from '../building-blocks.js';

/** The ERR_WASM_INVALID refusal for a file built the wrong way: the reason, then how to build it. */
function badBuild(file: string, reason: string): MortarError {
  return new MortarError('ERR_WASM_INVALID', [file, `${reason}; ${HOW_TO_BUILD}`]);
}

/**
 * Checks the preamble: `\0asm`, then a component's version/layer (`0d 00 01 00`). A core module (layer 0,
 * what `wasm32` compilers and `jco componentize` with a core target emit) is refused by name.
 */
export function checkPreamble(bytes: Uint8Array, file: string): void {
  const magic = bytes.length >= 8 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (!magic) throw badBuild(file, 'missing the \\0asm magic number (not a WebAssembly file)');
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (layer === 0) throw badBuild(file, 'it is a core WebAssembly module, not a component');
}

/**
 * Checks a transpiled component's imports: the sandbox offers `mortar:host/*` and the WASI of
 * `sandbox/wasi.ts`, never `wasi:http` (which a StarlingMonkey build, jco's default backend, imports).
 */
export function checkImports(imports: readonly string[], file: string): void {
  const http = imports.find((i) => i.startsWith('wasi:http/'));
  if (http) throw badBuild(file, `it imports ${http}, which the sandbox does not offer (a StarlingMonkey build: jco's default backend)`);
  const foreign = imports.find((i) => !i.startsWith('wasi:') && !i.startsWith('mortar:host/'));
  if (foreign) throw badBuild(file, `it imports ${foreign}, which the sandbox does not offer (only mortar:host/* and WASI)`);
}

/** The building block a component serves, from the mortar:component interface it exports (see `building-blocks.ts`). */
export function blockOf(exports: readonly string[], file: string): Block {
  const prefix = `${COMPONENT_PACKAGE}/`;
  // `mortar:component/state-store@0.1.0` -> `state-store`
  const exported = exports.filter((e) => e.startsWith(prefix) && e.includes('@')).map((e) => e.slice(prefix.length, e.indexOf('@')));
  if (!exported.includes(LIFECYCLE.wit)) throw badBuild(file, `it does not export ${prefix}${LIFECYCLE.wit}`);
  const block = blockExporting(exported);
  if (block) return block;
  const expected = BUILDING_BLOCKS.flatMap((b) => b.identifiedBy.map((i) => `${prefix}${i}`));
  throw badBuild(file, `it exports no building block this sidecar serves (expected ${expected.slice(0, -1).join(', ')} or ${expected.at(-1)})`);
}

/**
 * Checks that the types a component declares belong to the block its world serves (`state.*` for a state
 * store, `pubsub.*` for a broker): a mismatch means it was built for the wrong world.
 */
export function checkTypesMatchBlock(types: readonly string[], block: Block, file: string): void {
  const wrong = types.find((t) => !t.startsWith(BLOCKS[block].typePrefix));
  if (!wrong) return;
  const world = BLOCKS[block].defaultWorld;
  throw badBuild(file, `it declares type '${wrong}' but was built for the ${world} world (it serves ${block} only): built for the wrong world`);
}

/**
 * Explains a `describe()` failure whose cause is how the file was built (the reason, then how to build it
 * right), or returns undefined when it is the component's own fault.
 */
export function explainDescribeFailure(message: string): string | undefined {
  if (!/wasi:http\//.test(message)) return undefined;
  return `it needs wasi:http, which the sandbox does not offer (a StarlingMonkey build) (${message}); ${HOW_TO_BUILD}`;
}
