import { it } from 'node:test';
import assert from 'node:assert/strict';
import { limitMemory } from '../../host/src/components/wasm-memory-limit.js';

/** (module (memory (export "m") 1)) and (memory 2 100). */
const noMax = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 0x6d, 2, 0]);
const withMax = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 4, 1, 1, 2, 100]);

it('adds a maximum to a memory that has none', () => {
  const out = limitMemory(noMax, 10 * 65536);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(out as Uint8Array<ArrayBuffer>));
  const m = inst.exports.m as WebAssembly.Memory;
  m.grow(9);
  assert.throws(() => m.grow(1), RangeError);
});

it('lowers a larger maximum, never below the initial size, and keeps the module valid', () => {
  const out = limitMemory(withMax, 5 * 65536);
  assert.ok(WebAssembly.validate(out as Uint8Array<ArrayBuffer>));
  assert.deepEqual([...out.slice(8)], [5, 4, 1, 1, 2, 5]);
  const tiny = limitMemory(withMax, 1);
  assert.deepEqual([...tiny.slice(8)], [5, 4, 1, 1, 2, 2]);
});

it('leaves modules without memory alone and rejects non-Wasm input', () => {
  const empty = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  assert.equal(limitMemory(empty, 65536), empty);
  assert.throws(() => limitMemory(Uint8Array.from([1, 2, 3]), 65536), RangeError);
  assert.throws(() => limitMemory(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 99, 1]), 65536), RangeError);
});
