import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unservedImport, workloadImports } from '../../host/src/components/sandbox/workload-imports.js';
import { componentImportNames } from '../../host/src/components/component-imports.js';
import { ROOT } from '../helpers/sidecar.js';

it('a workload may import any wasi 0.2.x, fermyon:spin 2.0.x, the draft wasi:keyvalue and wasi:config (by version, not exact string)', () => {
  assert.equal(
    unservedImport([
      'wasi:http/types@0.2.0',
      'wasi:http/types@0.2.3',
      'wasi:http/outgoing-handler@0.2.12',
      'wasi:io/streams@0.2.7',
      'fermyon:spin/key-value@2.0.0',
      'fermyon:spin/variables@2.0.0',
      'wasi:keyvalue/atomics@0.2.0-draft2',
      'wasi:config/store@0.2.0-draft-2024-09-27',
      'wasi:config/store@0.2.0-draft',
    ]),
    undefined,
  );
});

it('an import of another major/minor version, an interface not served or a package not served is named', () => {
  assert.match(unservedImport(['wasi:io/poll@0.2.0', 'wasi:http/types@0.3.0']) ?? '', /^wasi:http\/types@0\.3\.0: version 0\.3\.0 is not one/);
  assert.match(unservedImport(['wasi:sockets/tcp@0.2.0']) ?? '', /^wasi:sockets\/tcp@0\.2\.0: not an interface mortar serves/);
  assert.match(unservedImport(['fermyon:spin/sqlite@2.0.0']) ?? '', /not an interface mortar serves/);
  assert.match(unservedImport(['wasi:keyvalue/store@0.2.0-draft']) ?? '', /version 0\.2\.0-draft is not one/);
  assert.match(unservedImport(['run: func()']) ?? '', /not an interface import/);
});

it('reads the versioned import names of a component (jco reports them without versions)', () => {
  const names = componentImportNames(readFileSync(join(ROOT, 'dist/test-workloads/spin-http-ts.wasm')));
  assert.ok(names.includes('wasi:http/types@0.2.3'));
  assert.ok(names.includes('wasi:io/streams@0.2.12'));
  assert.ok(names.includes('fermyon:spin/key-value@2.0.0'));
  assert.equal(names.length, 21);
  assert.throws(() => componentImportNames(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), RangeError, 'a core module is not a component');
});

it('a label the host let the instance open is opened again without a host call; a refused open is asked again', () => {
  const calls: string[] = [];
  const imports = workloadImports((op, args) => {
    calls.push(`${op} ${String(args[0])}`);
    if (op === 'kv.open' && args[0] !== 'default') throw Object.assign(new Error('denied'), { payload: { tag: 'access-denied' } });
    return undefined;
  }) as {
    'fermyon:spin/key-value': { Store: { open(label: string): unknown } };
    'wasi:keyvalue/store': { open(label: string): unknown };
  };
  const { Store } = imports['fermyon:spin/key-value'];
  Store.open('default');
  Store.open('default');
  imports['wasi:keyvalue/store'].open('default');
  assert.deepEqual(calls, ['kv.open default']);
  for (let i = 0; i < 2; i++)
    assert.throws(
      () => Store.open('other'),
      (e: { tag?: string }) => e.tag === 'access-denied',
    );
  assert.deepEqual(calls, ['kv.open default', 'kv.open other', 'kv.open other']);
});
