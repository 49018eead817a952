/**
 * The async workload path's contract with jco's JSPI glue: the imports it suspends on (`asyncImportsOf`) are
 * exactly the functions of mortar's key-value, variables, config and `mortar:app` imports, plus the waits of
 * `wasi:io/poll`, and those imports answer promises, settled as the synchronous ones return or throw, when the
 * host call answers one.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ASYNC_FUNCTIONS, asyncImportsOf } from '../../host/src/components/sandbox/async-imports.js';
import { workloadImports } from '../../host/src/components/sandbox/workload-imports.js';
import { appGuestImports } from '../../host/src/components/sandbox/app-guest-imports.js';
import { ioImports } from '../../host/src/components/sandbox/wasi-io.js';

/** The JS functions of one import object, in WIT's names (`[static]store.open`, `[method]bucket.get`, `get-many`). */
function witNames(obj: Record<string, unknown>): string[] {
  const out: string[] = [];
  const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^-/, '');
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'function') continue;
    if (!/^[A-Z]/.test(k)) {
      out.push(kebab(k));
      continue;
    }
    const resource = kebab(k);
    for (const s of Object.getOwnPropertyNames(v))
      if (!['length', 'name', 'prototype'].includes(s) && typeof (v as never)[s] === 'function') out.push(`[static]${resource}.${kebab(s)}`);
    for (let p = (v as { prototype: object }).prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p))
      for (const m of Object.getOwnPropertyNames(p))
        if (m !== 'constructor' && typeof Object.getOwnPropertyDescriptor(p, m)?.value === 'function') out.push(`[method]${resource}.${kebab(m)}`);
  }
  return out;
}

it('the imports suspended on are every function of the key-value, variables, config and mortar:app imports that calls the host, and the pollable waits', () => {
  const sink = { write() {} };
  const io = ioImports({ stdout: sink, stderr: sink, deadline: () => Infinity });
  const objects: Record<string, Record<string, unknown>> = {
    ...workloadImports(() => undefined),
    ...appGuestImports(() => undefined, 1 << 20),
    'wasi:io/poll': io['wasi:io/poll'],
  } as never;
  for (const [iface, fns] of ASYNC_FUNCTIONS) {
    const obj = objects[iface];
    assert.ok(obj, `${iface} is an import mortar serves`);
    const implemented = new Set(witNames(obj));
    for (const fn of fns) assert.ok(implemented.has(fn), `${iface}#${fn} is implemented (${[...implemented].join(', ')})`);
    // A cas's `current` answers from what the instance holds (no host call), and a pollable's `ready` never
    // waits; `read` and `wait` are mortar's helpers, no WIT functions.
    const answersAtOnce = ['[method]cas.current', '[static]cas.read', '[method]pollable.ready', '[method]pollable.wait'];
    const unlisted = [...implemented].filter((f) => !fns.includes(f) && !answersAtOnce.includes(f));
    assert.deepEqual(unlisted, [], `${iface}: functions that call the host but are not suspended on`);
  }
});

it('asyncImportsOf names them at the versions the component imports, and nothing of the interfaces that do not call the host', () => {
  const names = asyncImportsOf(['wasi:http/types@0.2.3', 'fermyon:spin/key-value@2.0.0', 'wasi:keyvalue/store@0.2.0-draft2', 'mortar:app/state@0.1.0']);
  assert.ok(names.includes('fermyon:spin/key-value@2.0.0#[method]store.get'));
  assert.ok(names.includes('fermyon:spin/key-value@2.0.0#[static]store.open'));
  assert.ok(names.includes('wasi:keyvalue/store@0.2.0-draft2#[method]bucket.get'));
  assert.ok(names.includes('mortar:app/state@0.1.0#get-bulk'));
  assert.ok(!names.some((n) => n.startsWith('wasi:http/')));
});

it('with a host call that answers promises, the imports answer promises: values as the sync imports return, host errors in each interface’s variant', async () => {
  const answers: Record<string, unknown> = { 'kv.open': undefined, 'kv.get': undefined, 'kv.get-many': [new Uint8Array([1]), undefined], 'kv.increment': '7' };
  const imports = workloadImports(async (op) => {
    if (op === 'kv.set') throw Object.assign(new Error('nope'), { payload: { tag: 'access-denied' } });
    if (op === 'kv.swap') throw Object.assign(new Error('changed'), { payload: { tag: 'cas-failed' } });
    if (op === 'kv.read') return { value: new Uint8Array([9]), etag: '2' };
    return answers[op];
  }) as never as {
    'fermyon:spin/key-value': { Store: { open(l: string): Promise<{ get(k: string): Promise<unknown>; set(k: string, v: Uint8Array): Promise<void> }> } };
    'wasi:keyvalue/store': { open(l: string): Promise<unknown> };
    'wasi:keyvalue/batch': { getMany(b: unknown, keys: string[]): Promise<unknown> };
    'wasi:keyvalue/atomics': {
      increment(b: unknown, k: string, d: bigint): Promise<bigint>;
      swap(c: unknown, v: Uint8Array): Promise<void>;
      Cas: { new (...a: unknown[]): unknown; read(b: unknown, k: string): Promise<unknown> };
    };
  };
  const store = await imports['fermyon:spin/key-value'].Store.open('default');
  assert.equal(await store.get('k'), undefined, 'a missing key is none');
  await assert.rejects(store.set('k', new Uint8Array()), (e: unknown) => (e as { tag: string }).tag === 'access-denied');
  const bucket = await imports['wasi:keyvalue/store'].open('default');
  assert.deepEqual(await imports['wasi:keyvalue/batch'].getMany(bucket, ['a', 'b']), [['a', new Uint8Array([1])], undefined]);
  assert.equal(await imports['wasi:keyvalue/atomics'].increment(bucket, 'n', 1n), 7n);
  const cas = await imports['wasi:keyvalue/atomics'].Cas.read(bucket, 'k');
  await assert.rejects(imports['wasi:keyvalue/atomics'].swap(cas, new Uint8Array([1])), (e: unknown) => {
    const err = e as { tag: string; val: { value?: Uint8Array } };
    return err.tag === 'cas-failed' && err.val.value?.[0] === 9;
  });
});
