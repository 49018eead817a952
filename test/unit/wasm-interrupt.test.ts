/**
 * `wasm-interrupt.ts`: a rewritten module's loops stop, with a trap, when another thread sets the interrupt word,
 * and the thread that ran them goes on; with the word clear a loop computes what it computed before. The rewrite
 * keeps the test guests' core modules valid (QuickJS and StarlingMonkey included), and refuses what it cannot decode.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { INTERRUPT_CURRENT, INTERRUPT_EXPORT, INTERRUPT_TARGET, interruptible } from '../../host/src/components/wasm-interrupt.js';
import { waitUntil } from '../helpers/wait.js';

const TEST_WORKLOADS = join(process.cwd(), 'dist/test-workloads');

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const section = (id: number, content: number[]) => [id, content.length, ...content];
const body = (bytes: number[]) => [bytes.length, ...bytes];
const ascii = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];

/**
 * `spin()` loops for ever; `count(n)` sums n..1 in a loop; `tail()` tail-calls itself for ever (no loop, no stack
 * growth). It defines a memory of its own, so the interrupt memory is index 1.
 */
const LOOPS = Uint8Array.from([
  ...HEADER,
  ...section(1, [0x02, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f]),
  ...section(3, [0x03, 0x00, 0x01, 0x00]),
  ...section(5, [0x01, 0x00, 0x01]),
  ...section(7, [0x03, ...ascii('spin'), 0x00, 0x00, ...ascii('count'), 0x00, 0x01, ...ascii('tail'), 0x00, 0x02]),
  ...section(10, [
    0x03,
    ...body([0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b]),
    // local acc; loop: acc += n; n -= 1; br_if (n != 0); end; acc
    ...body([
      0x01, 0x01, 0x7f, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b, 0x20, 0x01, 0x0b,
    ]),
    // return_call 2
    ...body([0x00, 0x12, 0x02, 0x0b]),
  ]),
]);

it("a loop stops with a trap when another thread writes its request's id, not another's, and the same thread and instance then go on", async () => {
  const { bytes, loops } = interruptible(LOOPS);
  assert.equal(loops, 3, 'two loop heads and the entry of the function making a tail call');
  // The worker instantiates the module, hands over the interrupt memory, and calls spin() as request 7.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const instance = new WebAssembly.Instance(new WebAssembly.Module(workerData), {});
    const words = new Int32Array(instance.exports.${INTERRUPT_EXPORT}.buffer);
    Atomics.store(words, ${INTERRUPT_CURRENT}, 7);
    parentPort.postMessage({ memory: instance.exports.${INTERRUPT_EXPORT} });
    let trap;
    try { instance.exports.spin(); } catch (err) { trap = String(err); }
    Atomics.store(words, ${INTERRUPT_TARGET}, 0);
    Atomics.store(words, ${INTERRUPT_CURRENT}, 8);
    parentPort.postMessage({ trap, after: instance.exports.count(100) });
  `;
  const w = new Worker(code, { eval: true, workerData: bytes });
  try {
    type Reply = { memory?: WebAssembly.Memory; trap?: string; after?: number };
    const replies: Reply[] = [];
    w.on('message', (r: Reply) => replies.push(r));
    const failed = new Promise<never>((_, reject) => w.once('error', reject));
    const until = (n: number) => Promise.race([waitUntil(() => replies.length >= n, `${n} replies from the worker`, 5000), failed]);
    await until(1);
    const memory = replies[0]!.memory!;
    assert.ok(memory.buffer instanceof SharedArrayBuffer, 'the interrupt memory is shared with this thread');
    const words = new Int32Array(memory.buffer);
    Atomics.store(words, INTERRUPT_TARGET, 6);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(replies.length, 1, "another request's id does not stop it");
    const t0 = performance.now();
    Atomics.store(words, INTERRUPT_TARGET, 7);
    await until(2);
    assert.match(replies[1]!.trap ?? '', /RuntimeError: unreachable/, 'spin() trapped');
    assert.ok(performance.now() - t0 < 1000, 'within a second of its id being written');
    assert.equal(replies[1]!.after, 5050, 'the worker goes on, and the instance computes again once the word is clear');
  } finally {
    await w.terminate();
  }
});

it('a function tail-calling itself for ever (no loop) is stopped the same way, at its entry', async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const instance = new WebAssembly.Instance(new WebAssembly.Module(workerData), {});
    Atomics.store(new Int32Array(instance.exports.${INTERRUPT_EXPORT}.buffer), ${INTERRUPT_CURRENT}, 3);
    parentPort.postMessage({ memory: instance.exports.${INTERRUPT_EXPORT} });
    try { instance.exports.tail(); } catch (err) { parentPort.postMessage({ trap: String(err) }); }
  `;
  const w = new Worker(code, { eval: true, workerData: interruptible(LOOPS).bytes });
  try {
    const replies: Array<{ memory?: WebAssembly.Memory; trap?: string }> = [];
    w.on('message', (r) => replies.push(r));
    await waitUntil(() => replies.length >= 1, 'the interrupt memory', 5000);
    await new Promise((r) => setTimeout(r, 100));
    Atomics.store(new Int32Array(replies[0]!.memory!.buffer), INTERRUPT_TARGET, 3);
    await waitUntil(() => replies.length >= 2, 'tail() to stop', 5000);
    assert.match(replies[1]!.trap ?? '', /RuntimeError: unreachable/);
  } finally {
    await w.terminate();
  }
});

it('with the word clear a rewritten loop computes what it did before', () => {
  const run = (bytes: Uint8Array<ArrayBuffer>) => (new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.count as (n: number) => number)(1000);
  assert.equal(run(interruptible(LOOPS).bytes), run(LOOPS));
  assert.equal(run(LOOPS), 500500);
});

it('a module with no memory and no export section gets both, in their places: it validates and exports the words; one with no loop is left as it was', () => {
  const bare = Uint8Array.from([
    ...HEADER,
    ...section(1, [0x01, 0x60, 0x00, 0x00]),
    ...section(3, [0x01, 0x00]),
    ...section(10, [0x01, ...body([0x00, 0x03, 0x40, 0x0b, 0x0b])]),
  ]);
  const { bytes, loops } = interruptible(bare);
  assert.equal(loops, 1);
  assert.ok(WebAssembly.validate(bytes));
  assert.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(bytes)), [{ name: INTERRUPT_EXPORT, kind: 'memory' }]);
  const noLoop = Uint8Array.from([
    ...HEADER,
    ...section(1, [0x01, 0x60, 0x00, 0x00]),
    ...section(3, [0x01, 0x00]),
    ...section(10, [0x01, ...body([0x00, 0x0b])]),
  ]);
  const same = interruptible(noLoop);
  assert.equal(same.loops, 0);
  assert.deepEqual(same.bytes, noLoop);
});

it("the test guests' core modules stay valid, their loops instrumented (wat-http, QuickJS, StarlingMonkey)", async () => {
  const { transpile } = await import('@bytecodealliance/jco');
  for (const [guest, atLeast] of [
    ['wat-http', 1],
    ['quickjs-http', 1000],
    ['spin-http-ts', 10_000],
  ] as const) {
    const out = await transpile(readFileSync(join(TEST_WORKLOADS, `${guest}.wasm`)), {
      name: 'component',
      instantiation: 'async',
      noTypescript: true,
      quiet: true,
    });
    let total = 0;
    for (const [file, content] of Object.entries(out.files)) {
      if (!file.endsWith('.wasm')) continue;
      const { bytes, loops } = interruptible(content);
      assert.ok(WebAssembly.validate(bytes), `${guest} ${file}: valid after the rewrite`);
      total += loops;
    }
    assert.ok(total >= atLeast, `${guest}: ${total} loops instrumented`);
  }
});

it('an instruction it does not decode (the GC proposal) is refused naming the opcode; a truncated body is refused too', () => {
  const withGc = Uint8Array.from([
    ...HEADER,
    ...section(1, [0x01, 0x60, 0x00, 0x00]),
    ...section(3, [0x01, 0x00]),
    ...section(10, [0x01, ...body([0x00, 0xfb, 0x00, 0x00, 0x0b])]),
  ]);
  assert.throws(() => interruptible(withGc), { name: 'RangeError', message: /instruction 0xfb not decoded/ });
  const truncated = Uint8Array.from([
    ...HEADER,
    ...section(1, [0x01, 0x60, 0x00, 0x00]),
    ...section(3, [0x01, 0x00]),
    ...section(10, [0x01, ...body([0x00, 0x41])]),
  ]);
  assert.throws(() => interruptible(truncated), RangeError);
});
