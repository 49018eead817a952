/**
 * Writing a Wasm workload as a newcomer would: `mortar component new <name> --workload` in an empty folder
 * outside the repository, then `mortar component build`; the component exports `wasi:http/incoming-handler`
 * and imports `mortar:app` (read back from the .wasm with jco). The same for the example in
 * `examples/workload/`. Serving the built workload needs the workload engine; that step is an integration test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { componentWit } from '@bytecodealliance/jco';
import { BIN, ROOT, tempDir } from '../helpers/sidecar.js';

const exec = promisify(execFile);

/** The interfaces a component imports and exports, from its WIT as jco prints it. */
async function worldOf(wasm: string): Promise<{ imports: string[]; exports: string[] }> {
  const wit = await componentWit(readFileSync(wasm));
  const names = (kind: string) => [...wit.matchAll(new RegExp(`^\\s*${kind} ([^;]+);$`, 'gm'))].map((m) => m[1]!);
  return { imports: names('import'), exports: names('export') };
}

describe('workload authoring: new --workload, then build', () => {
  let work: string;
  const mortar = (args: string[], cwd: string) => exec(process.execPath, [BIN, ...args], { cwd, maxBuffer: 16 * 1024 * 1024 });

  before(() => {
    work = realpathSync(tempDir('workload-authoring'));
    assert.ok(!work.startsWith(realpathSync(ROOT)), 'the work folder is outside the repository');
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the template builds on a clean folder into a component exporting wasi:http/incoming-handler and importing mortar:app', async (t) => {
    const t0 = Date.now();
    const made = await mortar(['component', 'new', 'hello', '--workload'], work);
    assert.match(made.stdout, /created hello\/ \(workload, world mortar:app\/workload\)/);
    for (const f of ['index.ts', 'package.json', 'tsconfig.json', 'types/workload.d.ts', 'types/interfaces/mortar-app-state.d.ts']) {
      assert.ok(existsSync(join(work, 'hello', f)), f);
    }
    const pkg = JSON.parse(readFileSync(join(work, 'hello', 'package.json'), 'utf8')) as { mortar: { workload: boolean }; scripts: { build: string } };
    assert.equal(pkg.mortar.workload, true);
    assert.equal(pkg.scripts.build, 'mortar component build index.ts -o hello.wasm');
    const tb = Date.now();
    const built = await mortar(['component', 'build', 'index.ts', '-o', 'hello.wasm'], join(work, 'hello'));
    const buildMs = Date.now() - tb;
    t.diagnostic(`new --workload + build: ${((Date.now() - t0) / 1000).toFixed(1)} s (build ${(buildMs / 1000).toFixed(1)} s)`);
    assert.match(
      built.stdout,
      /built hello\.wasm \(workload, [\d.]+ MB, [\d.]+s\): exports wasi:http\/incoming-handler@0\.2\.12; imports .*mortar:app\/state.*mortar:app\/pubsub/,
    );
    const w = await worldOf(join(work, 'hello', 'hello.wasm'));
    assert.deepEqual(w.exports, ['wasi:http/incoming-handler@0.2.12']);
    for (const i of ['mortar:app/state@0.1.0', 'mortar:app/pubsub@0.1.0', 'mortar:app/metadata@0.1.0', 'wasi:http/types@0.2.12']) {
      assert.ok(w.imports.includes(i), `imports ${i}: ${w.imports.join(', ')}`);
    }
    assert.ok(!w.imports.some((i) => i.startsWith('wasi:http/outgoing-handler')), 'no outgoing HTTP import');
    assert.ok(!w.imports.some((i) => i.startsWith('mortar:host/') || i.startsWith('mortar:component/')), 'no component-side imports');
  });

  it('the example workload (state, publish and a subscription) builds the same way', async () => {
    const out = join(work, 'orders.wasm');
    const built = await mortar(['component', 'build', join(ROOT, 'examples/workload/index.ts'), '-o', out], work);
    assert.match(built.stdout, /exports wasi:http\/incoming-handler@0\.2\.12/);
    const w = await worldOf(out);
    assert.ok(w.imports.includes('mortar:app/state@0.1.0') && w.imports.includes('mortar:app/pubsub@0.1.0'), w.imports.join(', '));
  });

  it('an entry without incomingHandler.handle fails naming it; --workload with --block is refused', async () => {
    const dir = join(work, 'half');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'half', mortar: { workload: true } }));
    writeFileSync(join(dir, 'index.ts'), "import { Router } from '@mortar/guest';\nexport const incomingHandler = { router: new Router() };\n");
    const e = await mortar(['component', 'build', 'index.ts', '-o', 'half.wasm'], dir).then(
      () => assert.fail('the build succeeded'),
      (err: { stderr: string; code: number }) => err,
    );
    assert.equal(e.code, 1);
    assert.match(e.stderr, /index\.ts is no workload: missing incomingHandler\.handle/);
    const both = await mortar(['component', 'new', 'x', '--workload', '--block', 'state'], work).then(
      () => assert.fail('new succeeded'),
      (err: { stderr: string }) => err,
    );
    assert.match(both.stderr, /--workload takes no --block or --type/);
  });
});
