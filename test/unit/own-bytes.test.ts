/**
 * Call arguments cross to a sandbox worker with their own bytes (`sandbox/own-bytes.ts`): a view into a
 * larger buffer (a small Node Buffer, from the shared pool) is copied to exactly its bytes, so the clone does
 * not carry the whole pool.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ownBytes } from '../../host/src/components/sandbox/own-bytes.js';

it('copies a pooled Buffer nested in call arguments to exactly its bytes, and leaves whole buffers and other values as they are', () => {
  const pooled = Buffer.from('{"n":1}');
  assert.ok(pooled.buffer.byteLength > pooled.byteLength, 'a small Buffer.from is a view into the pool');
  const whole = new Uint8Array([1, 2, 3]);
  const args = [{ operation: 'create', data: pooled, metadata: [['key', 'k']], nested: { items: [{ value: pooled }] }, whole }, 7, 'x'];
  const out = ownBytes(args);
  assert.equal(out, args);
  const req = out[0] as { data: Uint8Array; nested: { items: Array<{ value: Uint8Array }> }; whole: Uint8Array; metadata: string[][] };
  for (const bytes of [req.data, req.nested.items[0]!.value]) {
    assert.equal(bytes.buffer.byteLength, bytes.byteLength);
    assert.equal(Buffer.from(bytes).toString(), '{"n":1}');
  }
  assert.equal(req.whole, whole);
  assert.deepEqual(req.metadata, [['key', 'k']]);
  assert.deepEqual(out.slice(1), [7, 'x']);
  // What postMessage would carry: the structured clone of the copy is the 7 bytes, not the pool.
  assert.equal(structuredClone(req.data).buffer.byteLength, 7);
  assert.equal(structuredClone(pooled).buffer.byteLength, pooled.buffer.byteLength);
});
