/**
 * mortar's changes to jco's glue (`patchGlue`), read off the glue of every prebuilt built-in: each synchronous
 * host import is called without the async-task bookkeeping, and the result is still valid JavaScript. That the
 * patched glue behaves as jco's is what every component and workload test shows, since they all run on it. The
 * JSPI glue of `--workload-mode async` is read off two test workloads transpiled here.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { GLUE_ID, patchGlue } from '../../host/src/components/transpile-cache.js';
import { BUILTIN_COMPONENTS } from '../helpers/sidecar.js';

const root = join(BUILTIN_COMPONENTS, 'transpiled', GLUE_ID);
const TEST_WORKLOADS = join(process.cwd(), 'dist/test-workloads');
const glues = readdirSync(root).map((hash) => ({ hash, js: readFileSync(join(root, hash, 'component.js'), 'utf8') }));

it('every host import trampoline of every built-in is marked for the fast path, and each lowering is made by __mortarLower', () => {
  assert.ok(glues.length >= 16, `${glues.length} prebuilt built-ins`);
  for (const { hash, js } of glues) {
    const trampolines = js.match(/\n {2}const _trampoline\d+ = function\(/g)?.length ?? 0;
    const marked = js.match(/\n {2}_trampoline\d+\.__mortarHost = true;/g)?.length ?? 0;
    assert.ok(marked > 0, `${hash}: some host imports`);
    assert.equal(marked, trampolines, `${hash}: every host import trampoline`);
    assert.equal(js.match(/const hostProvided = true;/g), null, `${hash}: no task bookkeeping left in a host import`);
    assert.match(js, /if \(!args\.isAsync && !args\.funcTypeIsAsync && \(\(f\.__mortarHost && !args\.isManualAsync\) \|\| f\.__mortarHostAsync\)\) \{/);
    // Each lowering is made by `__mortarLower`, which forwards a fast import straight to it.
    assert.equal(js.match(/_lowerImportBackwardsCompat\.bind\(\n {2}null,/g), null, `${hash}: no lowering bound as jco binds it`);
    assert.ok((js.match(/__mortarLower\(\n/g)?.length ?? 0) >= trampolines, `${hash}: every lowering made by __mortarLower`);
    assert.doesNotThrow(
      () => execFileSync(process.execPath, ['--check', join(root, hash, 'component.js')], { stdio: 'pipe' }),
      `${hash}: the patched glue parses`,
    );
  }
});

it("every built-in's glue hands over each of its resource tables, and keeps no set of every rep it held", () => {
  for (const { hash, js } of glues) {
    // Counted as the glue registers and numbers them, not by the shape the patch looks for.
    const tables = (js.match(/HANDLE_TABLES\[\d+\] = /g)?.length ?? 0) + (js.match(/let captureCnt\d+= 0;/g)?.length ?? 0);
    const pushed = js.match(/imports\.__mortarGlueTables\.push\((handle|capture)Table\d+\);/g)?.length ?? 0;
    assert.ok(tables > 0, `${hash}: resource tables`);
    assert.equal(pushed, tables, `${hash}: every table handed over`);
    assert.equal(js.includes('_createdReps.add('), false, `${hash}: no _createdReps growing with every resource`);
  }
});

it('a glue with one table of another shape hands over none (its instances are then instantiated anew more often)', () => {
  const one = 'const handleTable1 = [T_FLAG, 0];\nHANDLE_TABLES[1] = handleTable1;\nconst captureTable1= new Map();\nlet captureCnt1= 0;\n';
  assert.match(patchGlue(one), /imports\.__mortarGlueTables\.push\(handleTable1\);/, 'the expected shape: handed over');
  assert.match(patchGlue(one), /imports\.__mortarGlueTables\.push\(captureTable1\);/);
  const other = `${one}const handleTable2 = [T_FLAG, 0, 0];\nHANDLE_TABLES[2] = handleTable2;\n`;
  assert.equal(patchGlue(other).includes('__mortarGlueTables'), false, 'one table not recognised: none handed over');
});

it('glue of another shape is left as jco wrote it', () => {
  // A glue that reads _createdReps keeps it.
  const reads = 'table._createdReps.add(rep);\nx._createdReps = new Set();\nif (t._createdReps.has(r)) {}';
  assert.equal(patchGlue(reads), reads);
  const other = 'export function instantiate() {}\n  const _trampoline1 = function(a) {\n    return a;\n  };\n  _trampoline1.fnName = "x";\n';
  assert.equal(patchGlue(other).includes('__mortarHost = true'), false);
  assert.equal(patchGlue(other).includes('importFn.__mortarHost'), false);
});

it('JSPI glue (async workloads): every suspending host import skips the task model, so does the incoming handler unless the component is composed, and the glue parses', async () => {
  const { transpile } = await import('@bytecodealliance/jco');
  const { asyncImportsOf } = await import('../../host/src/components/sandbox/async-imports.js');
  // quickjs-http is composed (the QuickJS runtime and the app, calling each other through jco's adapters).
  for (const [guest, composed] of [
    ['wat-http', false],
    ['quickjs-http', true],
  ] as const) {
    const bytes = readFileSync(join(TEST_WORKLOADS, `${guest}.wasm`));
    const opts = { name: 'component', instantiation: 'async', noTypescript: true, quiet: true } as const;
    const asyncImports = asyncImportsOf((await transpile(bytes, opts)).imports);
    const out = await transpile(bytes, { ...opts, asyncMode: 'jspi', asyncImports, asyncExports: ['*'] });
    const js = patchGlue(Buffer.from(out.files['component.js']).toString('utf8'));
    const suspending = js.match(/\n {2}_trampoline\d+\.manuallyAsync = true;/g)?.length ?? 0;
    assert.ok(suspending > 0, `${guest}: some suspending imports`);
    assert.equal(js.match(/\n {2}_trampoline\d+\.__mortarHostAsync = true;/g)?.length, suspending, `${guest}: each takes the fast path`);
    assert.equal(js.match(/const hostProvided = true;/g), null, `${guest}: no task bookkeeping left in a host import`);
    // A suspending import's host call is made directly: no pending-operation count, no deadlock check after it.
    assert.equal(js.match(/__mortarCall\(\(\) =>/g)?.length, suspending, `${guest}: each host call made directly`);
    assert.equal(js.includes('new WebAssembly.Suspending(_suspendingImport('), false, `${guest}: a fast import has no _suspendingImport wrapper`);
    assert.match(
      js,
      /\(\(f\.__mortarHost && !args\.isManualAsync\) \|\| f\.__mortarHostAsync\)/,
      `${guest}: the lowering calls a suspending host import directly`,
    );
    assert.equal(js.match(/_lowerImportBackwardsCompat\.bind\(\n {2}null,/g), null, `${guest}: every lowering made by __mortarLower`);
    const handler = /\n {2}async function handle(\$\d+)?\([^)]*\) \{[\s\S]*?\n {2}\}\n/.exec(js)?.[0] ?? '';
    assert.ok(handler.length > 0, `${guest}: the incoming handler found`);
    if (composed) assert.ok(handler.includes('createNewCurrentTask('), `${guest}: a composed component's handler keeps jco's task`);
    else {
      assert.match(handler, /const task = __mortarExportTask\(\);/, `${guest}: the incoming handler's task is mortar's`);
      assert.equal(handler.includes('createNewCurrentTask('), false, `${guest}: the incoming handler enters no AsyncTask`);
    }
    const file = join(mkdtempSync(join(tmpdir(), 'mortar-glue-')), 'component.js');
    writeFileSync(file, js);
    assert.doesNotThrow(() => execFileSync(process.execPath, ['--check', file], { stdio: 'pipe' }), `${guest}: the patched glue parses`);
  }
});

it('JSPI glue with one host import of another shape is left as jco wrote it', () => {
  const glue = [
    'export function instantiate() {}',
    '  const _trampoline1 = async function(a) {',
    '    const hostProvided = true;',
    '    const started = await task.enter({ isHost: hostProvided });',
    '  };',
    '  _trampoline1.fnName = "x";',
    '  _trampoline1.manuallyAsync = true;',
    '  let trampoline1 = _trampoline1.manuallyAsync ? new WebAssembly.Suspending(_suspendingImport(0, f));',
  ].join('\n');
  const patched = patchGlue(glue);
  assert.equal(patched.includes('__mortarHostAsync'), false, 'a task block without `isAsync: false`: not fast');
  assert.equal(patched.includes('__mortarRun'), false);
  assert.ok(patched.includes('new WebAssembly.Suspending(_suspendingImport(0, f))'), "jco's wrapper kept");
});
