/**
 * Makes a core Wasm module's loops interruptible from another thread. Every `loop` of every function starts by
 * reading the first word of a small shared memory that the rewritten module defines and exports
 * (`INTERRUPT_EXPORT`): while it is zero, nothing else happens; otherwise the loop traps (`unreachable`) if it
 * equals the second word. The host keeps the id of the request an instance serves in the second word
 * (`INTERRUPT_CURRENT`), and a watchdog on another thread (a request past its deadline) writes that request's
 * id to the first (`INTERRUPT_TARGET`) through the memory's `SharedArrayBuffer`: the guest traps at its next
 * loop head, and the thread that ran it is free again, without the worker being terminated. An id written for
 * a request that has just ended matches no later one, so it cannot stop the next. wasmtime's epoch
 * interruption puts a check at the same places in the code it generates. A function that makes a tail call
 * (`return_call*`) gets the check at its entry too, since tail calls can repeat for ever without a loop or a
 * growing stack; other code without a loop ends by itself, or overflows the stack and traps.
 *
 * The memory is appended after every memory the module imports or defines, so no existing memory index moves;
 * the check addresses it with a multi-memory `memarg` (Wasm 3.0; V8 has it without flags). It is one page,
 * shared, of at most one page.
 *
 * `interruptible` decodes every instruction to find the loops. A module using an instruction it does not know
 * (the GC proposal's, say) is refused with a `RangeError` naming the opcode: the caller keeps the module as it
 * was, and a loop in it can only be stopped by terminating its worker.
 */
import { addExports, exportEntry, importedCounts, readU32, skipLeb, skipValType, wasmSections, writeU32 } from './wasm-binary.js';

/** The name of the export holding the interrupt words (two `i32`s at addresses 0 and 4 of that memory). */
export const INTERRUPT_EXPORT = '__mortar_interrupt';
/** `Int32Array` index of the word the watchdog writes: the id of the request to stop. */
export const INTERRUPT_TARGET = 0;
/** `Int32Array` index of the word the host writes: the id of the request the instance serves (0: none). */
export const INTERRUPT_CURRENT = 1;

/**
 * Stops request `id` on the instance whose interrupt words (one pair per core module, all naming the same
 * request: `WorkloadInstance.serving`) are `words`, if it serves that request: it traps at its next loop head.
 * True if it serves it. Safe from any thread holding the words.
 */
export function stopIfServing(words: readonly Int32Array[], id: number): boolean {
  if (words.length === 0 || Atomics.load(words[0]!, INTERRUPT_CURRENT) !== id) return false;
  for (const w of words) Atomics.store(w, INTERRUPT_TARGET, id);
  return true;
}

const MEMORY_SECTION = 5;
const CODE_SECTION = 10;
/** Sections that come after the memory section, in the order a module holds them (tag, global, export, ...). */
const AFTER_MEMORY = new Set([13, 6, 7, 8, 9, 12, 10, 11]);
const KIND_MEMORY = 2;

/** What the rewrite did. */
export interface Interruptible {
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Loop heads (and entries of functions making tail calls) that got the check. */
  readonly loops: number;
}

/**
 * Returns `module` with the check at the head of every loop and the interrupt memory exported as
 * `INTERRUPT_EXPORT`; a module without a loop unchanged (a copy), with no interrupt memory. Throws a
 * `RangeError` for a malformed module or an instruction it does not decode.
 */
export function interruptible(module: Uint8Array): Interruptible {
  const sections = [...wasmSections(module, 'module')];
  const memories = sections.find((x) => x.id === MEMORY_SECTION);
  const memoryIndex = importedCounts(module).memories + (memories ? readU32(module, memories.contentStart)[0] : 0);
  // if (target) { if (target == current) unreachable }, each word an i32.atomic.load (memory N) of address 0:
  // atomic, so an optimising compiler cannot keep one value of it for a whole loop (on x64 the same `mov`).
  const load = (offset: number) => [0x41, 0x00, 0xfe, 0x10, 0x42, ...writeU32(memoryIndex), offset];
  const check = Uint8Array.from([...load(0), 0x04, 0x40, ...load(0), ...load(4), 0x46, 0x04, 0x40, 0x00, 0x0b, 0x0b]);
  const memoryEntry = [0x03, 0x01, 0x01]; // shared, with a maximum: 1 page, at most 1

  const out: Uint8Array[] = [module.subarray(0, 8)];
  let loops = 0;
  let memoryDone = false;
  const putMemories = (content: number[]) => {
    out.push(Uint8Array.from([MEMORY_SECTION, ...writeU32(content.length), ...content]));
    memoryDone = true;
  };
  for (const s of sections) {
    if (!memoryDone && !memories && AFTER_MEMORY.has(s.id)) putMemories([0x01, ...memoryEntry]);
    const content = module.subarray(s.contentStart, s.contentEnd);
    if (s === memories) putMemories(appendEntry(content, memoryEntry));
    else if (s.id === CODE_SECTION) {
      const code = rewriteCode(content, check);
      loops += code.loops;
      out.push(Uint8Array.from([CODE_SECTION, ...writeU32(code.pieces.reduce((n, c) => n + c.length, 0))]), ...code.pieces);
    } else out.push(module.subarray(s.start, s.contentEnd));
  }
  if (loops === 0) return { bytes: Uint8Array.from(module), loops };
  if (!memoryDone) putMemories([0x01, ...memoryEntry]);
  const bytes = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of out) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes: addExports(bytes, [exportEntry(INTERRUPT_EXPORT, KIND_MEMORY, memoryIndex)]) as Uint8Array<ArrayBuffer>, loops };
}

/** A vector section's content with one more entry at its end. */
function appendEntry(content: Uint8Array, entry: number[]): number[] {
  const [count, p] = readU32(content, 0);
  return [...writeU32(count + 1), ...content.subarray(p), ...entry];
}

/** A block type: empty (0x40), a value type, or a type index (s33). */
function skipBlockType(buf: Uint8Array, pos: number): number {
  const b = buf[pos]!;
  if (b === 0x63 || b === 0x64) return skipLeb(buf, pos + 1);
  return b & 0x80 ? skipLeb(buf, pos) : pos + 1;
}

/** A memarg: alignment flags (bit 6: a memory index follows), the memory index, the offset. */
function skipMemarg(buf: Uint8Array, pos: number): number {
  const [flags, p] = readU32(buf, pos);
  return skipLeb(buf, flags & 0x40 ? skipLeb(buf, p) : p);
}

function skipN(buf: Uint8Array, pos: number, n: number): number {
  for (let i = 0; i < n; i++) pos = skipLeb(buf, pos);
  return pos;
}

function unknown(op: string): never {
  throw new RangeError(`instruction ${op} not decoded`);
}

/** The position after the instruction at `pos`; for a `loop`, after its block type. */
function skipInstruction(buf: Uint8Array, pos: number): number {
  const op = buf[pos++];
  if (op === undefined) throw new RangeError('function body runs past its end');
  if (op >= 0x45 && op <= 0xc4) return pos; // numeric (and sign extension): no immediates
  if (op >= 0x28 && op <= 0x3e) return skipMemarg(buf, pos);
  switch (op) {
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x05: // else
    case 0x0a: // throw_ref
    case 0x0b: // end
    case 0x0f: // return
    case 0x19: // catch_all
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
    case 0xd3: // ref.eq
    case 0xd4: // ref.as_non_null
      return pos;
    case 0x02: // block
    case 0x03: // loop
    case 0x04: // if
    case 0x06: // try
      return skipBlockType(buf, pos);
    case 0x07: // catch
    case 0x08: // throw
    case 0x09: // rethrow
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x14: // call_ref
    case 0x15: // return_call_ref
    case 0x18: // delegate
    case 0x20: // local.get
    case 0x21: // local.set
    case 0x22: // local.tee
    case 0x23: // global.get
    case 0x24: // global.set
    case 0x25: // table.get
    case 0x26: // table.set
    case 0x3f: // memory.size
    case 0x40: // memory.grow
    case 0x41: // i32.const
    case 0x42: // i64.const
    case 0xd0: // ref.null (a heap type)
    case 0xd2: // ref.func
    case 0xd5: // br_on_null
    case 0xd6: // br_on_non_null
      return skipLeb(buf, pos);
    case 0x0e: {
      // br_table: the labels, then the default
      const [n, p] = readU32(buf, pos);
      return skipN(buf, p, n + 1);
    }
    case 0x11: // call_indirect: type, table
    case 0x13: // return_call_indirect
      return skipN(buf, pos, 2);
    case 0x1c: {
      // select with types
      let [n, p] = readU32(buf, pos);
      while (n-- > 0) p = skipValType(buf, p);
      return p;
    }
    case 0x1f: {
      // try_table: block type, catch clauses
      let [n, p] = readU32(buf, skipBlockType(buf, pos));
      while (n-- > 0) {
        const kind = buf[p++];
        p = skipN(buf, p, kind === 0x00 || kind === 0x01 ? 2 : 1);
      }
      return p;
    }
    case 0x43: // f32.const
      return pos + 4;
    case 0x44: // f64.const
      return pos + 8;
    case 0xfc:
      return skipMisc(buf, pos);
    case 0xfd:
      return skipSimd(buf, pos);
    case 0xfe:
      return skipAtomic(buf, pos);
    default:
      return unknown(`0x${op.toString(16)}`);
  }
}

/** 0xFC: saturating truncation, bulk memory, table instructions. */
function skipMisc(buf: Uint8Array, pos: number): number {
  const [sub, p] = readU32(buf, pos);
  if (sub <= 7) return p;
  if (sub === 8 || sub === 10 || sub === 12 || sub === 14) return skipN(buf, p, 2);
  if (sub === 9 || sub === 11 || sub === 13 || sub === 15 || sub === 16 || sub === 17) return skipN(buf, p, 1);
  return unknown(`0xfc ${sub}`);
}

/** 0xFD: SIMD (and relaxed SIMD). */
function skipSimd(buf: Uint8Array, pos: number): number {
  const [sub, p] = readU32(buf, pos);
  if (sub <= 11 || sub === 92 || sub === 93) return skipMemarg(buf, p); // loads, store, load_zero
  if (sub === 12 || sub === 13) return p + 16; // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) return p + 1; // extract / replace lane
  if (sub >= 84 && sub <= 91) return skipMemarg(buf, p) + 1; // load / store lane
  if (sub <= 0x113) return p;
  return unknown(`0xfd ${sub}`);
}

/** 0xFE: atomics. */
function skipAtomic(buf: Uint8Array, pos: number): number {
  const [sub, p] = readU32(buf, pos);
  if (sub === 0x03) return p + 1; // atomic.fence
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) return skipMemarg(buf, p);
  return unknown(`0xfe ${sub}`);
}

/** Tail calls: `return_call`, `return_call_indirect`, `return_call_ref`. */
const TAIL_CALLS = new Set([0x12, 0x13, 0x15]);

/**
 * The code section with `check` after the block type of every `loop`, and at the entry of every function that
 * makes a tail call, as the pieces it is made of.
 */
function rewriteCode(content: Uint8Array, check: Uint8Array): { pieces: Uint8Array[]; loops: number } {
  let [count, p] = readU32(content, 0);
  const pieces: Uint8Array[] = [Uint8Array.from(writeU32(count))];
  let loops = 0;
  while (count-- > 0) {
    const [size, bodyStart] = readU32(content, p);
    const end = bodyStart + size;
    if (end > content.length) throw new RangeError('function body runs past the code section');
    // Locals: groups of (count, type).
    let [groups, q] = readU32(content, bodyStart);
    while (groups-- > 0) q = skipValType(content, skipLeb(content, q));
    const body: Uint8Array[] = [content.subarray(bodyStart, q)];
    let copied = q;
    let n = 0;
    let tailCalls = false;
    while (q < end) {
      const op = content[q]!;
      tailCalls ||= TAIL_CALLS.has(op);
      q = skipInstruction(content, q);
      if (q > end) throw new RangeError('instruction runs past its function body');
      if (op === 0x03) {
        body.push(content.subarray(copied, q), check);
        copied = q;
        n++;
      }
    }
    body.push(content.subarray(copied, end));
    if (tailCalls) {
      body.splice(1, 0, check);
      n++;
    }
    pieces.push(Uint8Array.from(writeU32(size + n * check.length)), ...body);
    loops += n;
    p = end;
  }
  return { pieces, loops };
}
