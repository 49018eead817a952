import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportState } from '../../host/src/components/wasm-export-state.js';
import { TranspileCache } from '../../host/src/components/transpile-cache.js';
import { compiledModules } from '../../host/src/components/sandbox/compiled-modules.js';
import { IMAGE_CHUNK, MemoryImage } from '../../host/src/components/sandbox/memory-image.js';
import { WorkloadInstance } from '../../host/src/components/sandbox/workload-instance.js';
import { WORKLOAD_LIMITS } from '../../host/src/workloads/limits.js';
import { workloadWasi } from '../../host/src/components/sandbox/workload-wasi.js';
import type { WorkloadRequest, WorkloadResponse } from '../../host/src/components/sandbox/wasi-http.js';

const HEADER = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
const TYPES = [1, 4, 1, 0x60, 0, 0];
const FUNCS = [3, 2, 1, 0];
const MEMORY = [5, 3, 1, 0, 1];
/** (global (mut i32) (i32.const 5)) (global i32 (i32.const 7)) */
const GLOBALS = [6, 11, 2, 0x7f, 1, 0x41, 5, 0x0b, 0x7f, 0, 0x41, 7, 0x0b];
/** (export "bump" (func 0)) */
const EXPORTS = [7, 8, 1, 4, 0x62, 0x75, 0x6d, 0x70, 0, 0];
/** bump: global 0 += 1 */
const CODE = [10, 11, 1, 9, 0, 0x23, 0, 0x41, 1, 0x6a, 0x24, 0, 0x0b];

it('exports a module’s memory and mutable globals (not its immutable ones), keeping its own exports', () => {
  const out = exportState(Uint8Array.from([...HEADER, ...TYPES, ...FUNCS, ...MEMORY, ...GLOBALS, ...EXPORTS, ...CODE]));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(out as Uint8Array<ArrayBuffer>));
  assert.deepEqual(Object.keys(inst.exports).sort(), ['__mortar_global_0', '__mortar_memory_0', 'bump']);
  const g = inst.exports.__mortar_global_0 as WebAssembly.Global;
  (inst.exports.bump as () => void)();
  assert.equal(g.value, 6);
  g.value = 5;
  (inst.exports.bump as () => void)();
  assert.equal(g.value, 6, 'the exported global is the one the code uses');
  assert.ok(inst.exports.__mortar_memory_0 instanceof WebAssembly.Memory);
});

it('adds an export section where a module has none, and leaves a module without state unchanged', () => {
  const out = exportState(Uint8Array.from([...HEADER, ...TYPES, ...FUNCS, ...MEMORY, ...GLOBALS, ...CODE]));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(out as Uint8Array<ArrayBuffer>));
  assert.deepEqual(Object.keys(inst.exports).sort(), ['__mortar_global_0', '__mortar_memory_0']);
  const plain = Uint8Array.from([...HEADER, ...TYPES, ...FUNCS, ...EXPORTS, 10, 4, 1, 2, 0, 0x0b]);
  assert.ok(WebAssembly.validate(plain));
  assert.equal(exportState(plain), plain);
  assert.throws(() => exportState(Uint8Array.from([1, 2, 3])), RangeError);
});

/** One of the test workloads, instantiated in this thread, with an in-memory key-value map behind it. */
async function workload(name: string, stderr: string[] = []) {
  const file = join(process.cwd(), 'dist/test-workloads', `${name}.wasm`);
  const cache = new TranspileCache(join(mkdtempSync(join(tmpdir(), 'mortar-wl-reset-')), 'cache'));
  const artifact = await cache.get(await readFile(file), file);
  const kv = new Map<string, Uint8Array>();
  const imports = await workloadWasi({
    name,
    environment: {},
    stdout: { write() {} },
    stderr: {
      write(b) {
        stderr.push(Buffer.from(b).toString('utf8'));
      },
    },
    deadline: () => performance.now() + 5000,
    send: () => {
      throw { tag: 'HTTP-request-denied' };
    },
    appCallBytes: WORKLOAD_LIMITS.appCallBytes,
    call: (op, args) => {
      const key = args[1] as string;
      if (op === 'kv.get') return kv.get(key);
      if (op === 'kv.set') kv.set(key, args[2] as Uint8Array);
      if (op === 'kv.increment') {
        const n = Number(new TextDecoder().decode(kv.get(key) ?? new Uint8Array())) + Number(args[2]);
        kv.set(key, new TextEncoder().encode(String(n)));
        return String(n);
      }
      if (op === 'var.get' || op === 'config.get') return 'v';
      return undefined;
    },
  });
  return WorkloadInstance.create(artifact.dir, await compiledModules(artifact.dir, 256 * 1024 * 1024, true), imports);
}

const get = (path: string): WorkloadRequest => ({
  method: 'GET',
  scheme: 'http',
  authority: 'localhost',
  pathWithQuery: path,
  headers: [],
  body: new Uint8Array(0),
});
const text = (r: WorkloadResponse | { error: string }) => ('error' in r ? r.error : `${r.status} ${new TextDecoder().decode(r.body)}`);

for (const name of ['quickjs-http', 'spin-http-ts', 'spin-sdk-v2']) {
  it(`${name}: one instance, reset between requests, answers 40 sequential requests each as a fresh instance would`, async () => {
    const inst = await workload(name);
    for (let i = 1; i <= 20; i++) {
      assert.equal(text(await inst.handle(get('/global'))), '200 fresh', `request ${2 * i - 1}: a global set by an earlier request is visible`);
      assert.equal(text(await inst.handle(get('/counter'))), `200 ${i}`, `request ${2 * i}: the counter lives in the store, not the instance`);
    }
    assert.equal(inst.stats.instantiations, 1, 'never instantiated anew');
    assert.equal(inst.stats.resets, 39);
  });

  it(`${name}: a reset puts jco's resource tables back exactly as they were after initialisation, dropping what a request left in them`, async () => {
    const inst = await workload(name);
    assert.equal(inst.tracksGlue, true, 'the patched glue handed its tables over');
    const initial = inst.glueEntries;
    for (let i = 0; i < 30; i++) {
      await inst.handle(get('/kv?key=k'));
      // StarlingMonkey does not drop three of the host resources a request gets (QuickJS drops them all).
      if (name === 'quickjs-http') assert.equal(inst.glueEntries, initial, `request ${i + 1} dropped what it took`);
      else assert.equal(inst.glueEntries, initial + 6, `request ${i + 1} left three resources in the tables (a handle and a captured host object each)`);
      await inst.renew();
      assert.equal(inst.glueEntries, initial, `after request ${i + 1}: none left`);
      assert.ok(inst.glueAsSnapshot, `after request ${i + 1}: every table as it was after initialisation`);
    }
    assert.equal(inst.stats.instantiations, 1, 'reset, not instantiated anew');
  });
}

it('quickjs-http: a request that grew linear memory is followed by a fresh instantiation (a memory cannot shrink back)', async () => {
  const inst = await workload('quickjs-http');
  assert.equal(text(await inst.handle(get('/global'))), '200 fresh');
  assert.equal(text(await inst.handle(get('/grow'))), `200 ${8 * 1024 * 1024}`);
  assert.equal(text(await inst.handle(get('/global'))), '200 fresh');
  assert.equal(text(await inst.handle(get('/global'))), '200 fresh');
  assert.deepEqual(inst.stats, { instantiations: 2, resets: 2 });
});

it('quickjs-http: a guest that throws traps, and what it printed (QuickJS’s panic, on stderr) reaches the stderr sink', async () => {
  const err: string[] = [];
  const inst = await workload('quickjs-http', err);
  await assert.rejects(inst.handle(get('/throw')), WebAssembly.RuntimeError);
  assert.match(err.join(''), /Failed to call 'handle'.*boom/);
});

it('restoring a memory image puts back every changed byte: in kept chunks and in zero chunks (not kept), the first, a middle one, a partial last one', () => {
  // Chunks 0, 2 and the partial last one (100 bytes) hold bytes; chunk 1 is zeros.
  const image = Buffer.alloc(3 * IMAGE_CHUNK + 100);
  for (let i = 0; i < image.length; i++) if (i < IMAGE_CHUNK || i >= 2 * IMAGE_CHUNK) image[i] = ((i * 31 + 7) & 0xff) | 1;
  const orig = Buffer.from(image);
  const snap = MemoryImage.of(image);
  assert.equal(snap.length, image.length);
  assert.equal(snap.storedBytes, 2 * IMAGE_CHUNK + 100, 'the zero chunk is not kept');
  const live = Buffer.from(image);
  for (const at of [0, 5000, IMAGE_CHUNK + 7, 2 * IMAGE_CHUNK + 40000, image.length - 1]) live[at] = live[at]! ^ 0xff;
  live.fill(0, 2 * IMAGE_CHUNK + 20000, 2 * IMAGE_CHUNK + 20100);
  assert.notDeepEqual(live, orig);
  snap.restore(live);
  assert.deepEqual(live, orig);
  // The image is a copy: what the memory does later does not change it.
  image.fill(9);
  live.fill(1);
  snap.restore(live);
  assert.deepEqual(live, orig);
  assert.throws(() => snap.restore(Buffer.alloc(10)), /memory image of 196708 bytes cannot restore a memory of 10/);
});
