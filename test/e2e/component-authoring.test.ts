/**
 * Writing a component as a user would: `mortar` installed globally from the checkout, `mortar component
 * new` and `mortar component build` run in a folder outside the repository, the result loaded by a running
 * sidecar. And what the sidecar says about a `.wasm` built the wrong way, or one that crashes in `init`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';

const exec = promisify(execFile);

describe('component authoring outside the checkout', () => {
  let work: string;
  let mortar: string;
  let env: NodeJS.ProcessEnv;
  let resources: string;
  let sc: Sidecar;

  /** Runs the globally installed `mortar` in `cwd`; resolves with its output, or rejects with it. */
  const run = (args: string[], cwd: string) => exec(mortar, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 });
  const fails = async (args: string[], cwd: string): Promise<string> => {
    try {
      await run(args, cwd);
    } catch (err) {
      const e = err as { stdout: string; stderr: string; code: number };
      assert.notEqual(e.code, 0);
      return `${e.stdout}${e.stderr}`;
    }
    throw new Error(`mortar ${args.join(' ')} succeeded`);
  };

  before(async () => {
    work = realpathSync(tempDir('authoring'));
    assert.ok(!work.startsWith(realpathSync(ROOT)), 'the work folder is outside the repository');
    const prefix = join(work, 'prefix');
    // A global install of the checkout (npm links the folder): no registry access is needed.
    await exec('npm', ['install', '-g', '--prefix', prefix, ROOT, '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: work });
    mortar = join(prefix, 'bin', 'mortar');
    env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    resources = join(work, 'resources');
    mkdirSync(resources);
    sc = await Sidecar.start({ resourcesPath: resources, dataDir: join(work, 'data') });
  });

  after(async () => {
    await sc?.stop();
    // The global prefix holds a link to the checkout: rmSync removes the link, not what it points to.
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('`npm install -g <checkout>` puts a mortar on the PATH that runs outside the clone', async () => {
    const { stdout } = await exec('mortar', ['--help'], { cwd: work, env });
    assert.match(stdout, /mortar run \[flags\]/);
    assert.match(stdout, /mortar component new\|build/);
    assert.match((await run(['component', '--help'], work)).stdout, /mortar component build <entry/);
  });

  it('the state template, created and built outside the repo, is served: state saved and read back through it', async () => {
    const made = await run(['component', 'new', 'notes', '--block', 'state'], work);
    assert.match(made.stdout, /created notes\/ \(state\.notes, world state-store-component\)/);
    for (const f of ['index.ts', 'package.json', 'tsconfig.json', 'component.yaml', 'types/state-store-component.d.ts']) {
      assert.ok(existsSync(join(work, 'notes', f)), f);
    }
    const built = await run(['component', 'build', 'index.ts', '-o', 'notes.wasm'], join(work, 'notes'));
    assert.match(built.stdout, /built notes\.wasm \(state-store-component, .*\): state component state\.notes 0\.1\.0/);
    copyFileSync(join(work, 'notes', 'notes.wasm'), join(resources, 'notes.wasm'));
    copyFileSync(join(work, 'notes', 'component.yaml'), join(resources, 'notes.yaml'));
    await sc.waitForLog((l) => l.includes('component notes (state.notes) loaded'), 30_000);
    assert.equal((await sc.json('POST', '/v1.0/state/notes', [{ key: 'k', value: { n: 1 } }])).status, 204);
    const got = await sc.json('GET', '/v1.0/state/notes/k');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { n: 1 });
    assert.ok(got.headers.get('etag'), 'an ETag from the component');
    // The metadata schema the template declares is enforced: a maxKeys that is not a number is refused.
    writeComponent(resources, 'notes-bad.yaml', 'notes2', 'state.notes', { maxKeys: 'lots' });
    const refused = await sc.waitForLog((l) => l.includes('notes-bad.yaml') && l.includes('refused'), 10_000);
    assert.match(refused, /maxKeys/);
  });

  it('the pub/sub template builds through `npm run build` and takes publishes', async () => {
    await run(['component', 'new', 'bus', '--block', 'pubsub'], work);
    const pkg = JSON.parse(readFileSync(join(work, 'bus', 'package.json'), 'utf8')) as { scripts: { build: string }; mortar: { block: string } };
    assert.equal(pkg.mortar.block, 'pubsub');
    await exec('npm', ['run', 'build'], { cwd: join(work, 'bus'), env });
    copyFileSync(join(work, 'bus', 'bus.wasm'), join(resources, 'bus.wasm'));
    copyFileSync(join(work, 'bus', 'component.yaml'), join(resources, 'bus.yaml'));
    await sc.waitForLog((l) => l.includes('component bus (pubsub.bus) loaded'), 30_000);
    assert.equal((await sc.json('POST', '/v1.0/publish/bus/orders', { id: 1 })).status, 204);
  });

  it('a build of an entry that lacks a function of its world fails naming the function', async () => {
    const dir = join(work, 'half');
    mkdirSync(dir);
    const src = readFileSync(join(work, 'notes', 'index.ts'), 'utf8').replace(/\n {2}bulkGet\(rs[\s\S]*?\n {2}\},/, '');
    assert.ok(!src.includes('bulkGet('), 'bulkGet removed from the copy');
    writeFileSync(join(dir, 'index.ts'), src);
    const out = await fails(['component', 'build', 'index.ts', '-o', 'half.wasm', '--block', 'state'], dir);
    assert.match(out, /does not implement the state-store-component world: missing stateStore\.bulkGet/);
  });

  it('an async build (QuickJS without --backend-qjs-disable-async) is served too: Node 24 runs it on JSPI', async () => {
    const dir = join(work, 'asyncnotes');
    mkdirSync(dir);
    const src = readFileSync(join(work, 'notes', 'index.ts'), 'utf8').replaceAll('state.notes', 'state.asyncnotes');
    writeFileSync(join(dir, 'index.ts'), src);
    // Built as the README used to say, but without --backend-qjs-disable-async.
    await exec(process.execPath, [
      join(ROOT, 'node_modules/@bytecodealliance/jco/dist/jco.js'),
      'componentize',
      join(dir, 'index.ts'),
      '--wit',
      join(ROOT, 'wit'),
      '--world-name',
      'state-store-component',
      '--backend',
      'quickjs',
      '-o',
      join(resources, 'asyncnotes.wasm'),
    ]);
    writeComponent(resources, 'asyncnotes.yaml', 'asyncnotes', 'state.asyncnotes', {});
    await sc.waitForLog((l) => l.includes('component asyncnotes (state.asyncnotes) loaded'), 30_000);
    assert.equal((await sc.json('POST', '/v1.0/state/asyncnotes', [{ key: 'k', value: { n: 2 } }])).status, 204);
    const got = await sc.json('GET', '/v1.0/state/asyncnotes/k');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { n: 2 });
  });

  it('a core module and a build for the wrong world are refused with how to build it right', async () => {
    writeFileSync(join(resources, 'core.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    const core = await sc.waitForLog((l) => l.includes('core.wasm') && l.includes('refused'), 10_000);
    assert.match(core, /it is a core WebAssembly module, not a component; build it with `mortar component build/);

    const jco = join(ROOT, 'node_modules/@bytecodealliance/jco/dist/jco.js');
    const entry = join(work, 'notes', 'index.ts');
    const wit = join(ROOT, 'wit');
    // A state store built for the pubsub-component world.
    await exec(process.execPath, [
      jco,
      'componentize',
      entry,
      '--wit',
      wit,
      '--world-name',
      'pubsub-component',
      '--backend',
      'quickjs',
      '--backend-qjs-disable-async',
      '-o',
      join(resources, 'wrong.wasm'),
    ]);
    const wrong = await sc.waitForLog((l) => l.includes('wrong.wasm') && l.includes('refused'), 30_000);
    assert.match(wrong, /declares type 'state\.notes' but was built for the pubsub-component world.*build it with `mortar component build/);
    assert.equal((await sc.json('GET', '/v1.0/state/notes/k')).status, 200, 'the good component keeps serving');
  });

  it('a crash in init is blamed on the component, not on the YAML', async () => {
    const dir = join(work, 'crashy');
    await run(['component', 'new', 'crashy', '--block', 'state'], work);
    const src = readFileSync(join(dir, 'index.ts'), 'utf8').replace(
      'init(metadata: Metadata): void {',
      'init(metadata: Metadata): void {\n    (metadata as unknown as { x: { y: number } }).x.y = 1;',
    );
    writeFileSync(join(dir, 'index.ts'), src);
    await run(['component', 'build', 'index.ts', '-o', join(resources, 'crashy.wasm')], dir);
    copyFileSync(join(dir, 'component.yaml'), join(resources, 'crashy.yaml'));
    const line = await sc.waitForLog((l) => l.includes('crashy') && l.includes('crashed in init'), 30_000);
    assert.ok(line.startsWith(`ERROR refused ${join(resources, 'crashy.wasm')}: crashed in init, loading ${join(resources, 'crashy.yaml')}`), line);
    assert.match(line, /a fault in the component, not in the YAML/);
    assert.match(line, / field=lifecycle\.init/);
    assert.ok(!sc.logs.some((l) => l.startsWith(`ERROR refused ${join(resources, 'crashy.yaml')}`)), 'the YAML is not the one refused');
  });
});
