/**
 * Writing a Wasm workload as a newcomer would: `mortar component new <name> --workload` in an empty folder
 * outside the repository, then `mortar component build`; the component exports `wasi:http/incoming-handler`
 * and imports `mortar:app` (read back from the .wasm with jco), and it serves requests: `jco serve` (a real
 * `wasi:http` host) with its `mortar:app` imports bridged to a real runtime's import table (`helpers/app-bridge.ts`,
 * a test stand-in for the workload engine, whose own serving is tested with the engine). The same build for the
 * example in `examples/workload/`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { componentWit } from '@bytecodealliance/jco';
import { BIN, freePort, ROOT, tempDir } from '../helpers/sidecar.js';
import { bridgeModules } from '../helpers/app-bridge.js';
import { waitUntil } from '../helpers/wait.js';

const exec = promisify(execFile);

/** The interfaces a component imports and exports, from its WIT as jco prints it. */
async function worldOf(wasm: string): Promise<{ imports: string[]; exports: string[] }> {
  const wit = await componentWit(readFileSync(wasm));
  const names = (kind: string) => [...wit.matchAll(new RegExp(`^\\s*${kind} ([^;]+);$`, 'gm'))].map((m) => m[1]!);
  return { imports: names('import'), exports: names('export') };
}

describe('workload authoring: new --workload, then build', () => {
  let work: string;
  let newAt = 0;
  let server: ChildProcess | undefined;
  const mortar = (args: string[], cwd: string) => exec(process.execPath, [BIN, ...args], { cwd, maxBuffer: 16 * 1024 * 1024 });

  before(() => {
    work = realpathSync(tempDir('workload-authoring'));
    assert.ok(!work.startsWith(realpathSync(ROOT)), 'the work folder is outside the repository');
  });
  /** Stops `jco serve` and the server process it started (their process group). */
  const stopServer = () => {
    if (server?.pid !== undefined && server.exitCode === null) process.kill(-server.pid, 'SIGTERM');
    server = undefined;
  };

  /**
   * Serves `wasm` with `jco serve`, its `mortar:app` imports bridged to a runtime (embedded defaults, HTTP API on
   * a port of its own) acting for `appId`; resolves with both addresses once it listens.
   */
  const serveWorkload = async (wasm: string, appId: string, dataDir: string): Promise<{ url: string; sidecar: string }> => {
    const port = await freePort();
    const sidecarPort = await freePort();
    const modules = join(work, `bridge-${appId}`);
    mkdirSync(modules);
    const maps = bridgeModules(modules);
    const jco = join(ROOT, 'node_modules/@bytecodealliance/jco/dist/jco.js');
    server = spawn(process.execPath, [jco, 'serve', wasm, '--port', String(port), '--host', '127.0.0.1', '--jco-map', ...maps], {
      cwd: work,
      env: { ...process.env, MORTAR_BRIDGE_APP_ID: appId, MORTAR_BRIDGE_HTTP_PORT: String(sidecarPort), MORTAR_BRIDGE_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
      // jco serve runs the server in a child of its own: a group of their own, stopped together.
      detached: true,
    });
    let output = '';
    server.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    server.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    await waitUntil(() => output.includes('Server listening'), 'jco serve listening', 60_000).catch((e: Error) => {
      throw new Error(`${e.message}; its output: ${output}`);
    });
    return { url: `http://127.0.0.1:${port}`, sidecar: `http://127.0.0.1:${sidecarPort}` };
  };

  after(() => {
    stopServer();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the template builds on a clean folder into a component exporting wasi:http/incoming-handler and importing mortar:app', async (t) => {
    const t0 = Date.now();
    newAt = t0;
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

  it("the built template serves requests over wasi:http, its state calls reaching a real runtime, whose HTTP API reads the guest's counter", async (t) => {
    const { url, sidecar } = await serveWorkload(join(work, 'hello', 'hello.wasm'), 'hello', join(work, 'data'));
    const hello = await fetch(`${url}/hello`);
    t.diagnostic(`new --workload to the first served request: ${((Date.now() - newAt) / 1000).toFixed(1)} s`);
    assert.equal(hello.status, 200);
    assert.deepEqual(await hello.json(), { hello: 'hello' });
    const values: number[] = [];
    for (let i = 0; i < 3; i++) values.push(((await (await fetch(`${url}/counter`, { method: 'POST' })).json()) as { value: number }).value);
    assert.deepEqual(values, [1, 2, 3]);
    assert.deepEqual(await (await fetch(`${url}/counter`)).json(), { value: 3 });
    // The same key through the sidecar's Dapr HTTP API, as an HTTP app of the same app id reads it.
    const fromHttp = await fetch(`${sidecar}/v1.0/state/statestore/counter`);
    assert.equal(await fromHttp.text(), '3');
    // The subscription as the sidecar reads it, and a delivery settled by the workload.
    assert.deepEqual(await (await fetch(`${url}/dapr/subscribe`)).json(), [{ pubsubname: 'pubsub', topic: 'notes', route: '/events/notes' }]);
    const delivered = await fetch(`${url}/events/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ id: 'n1', source: 'someone', type: 'com.dapr.event.sent', specversion: '1.0', data: { text: 'hi' } }),
    });
    assert.deepEqual(await delivered.json(), { status: 'SUCCESS' });
    assert.equal(await (await fetch(`${sidecar}/v1.0/state/statestore/last-note`)).text(), '{"text":"hi"}');
    const notJson = await fetch(`${url}/notes`, { method: 'POST', body: 'not json' });
    assert.equal(notJson.status, 400);
    stopServer();
  });

  it('the example workload builds the same way and serves its orders: state, publish, and a delivery counted under ETags', async () => {
    const out = join(work, 'orders.wasm');
    const built = await mortar(['component', 'build', join(ROOT, 'examples/workload/index.ts'), '-o', out], work);
    assert.match(built.stdout, /exports wasi:http\/incoming-handler@0\.2\.12/);
    const w = await worldOf(out);
    assert.ok(w.imports.includes('mortar:app/state@0.1.0') && w.imports.includes('mortar:app/pubsub@0.1.0'), w.imports.join(', '));
    const { url, sidecar } = await serveWorkload(out, 'orders', join(work, 'orders-data'));
    const saved = await fetch(`${url}/orders`, { method: 'POST', body: JSON.stringify({ id: '42', item: 'book' }) });
    assert.equal(saved.status, 201);
    assert.deepEqual(await saved.json(), { saved: '42', by: 'orders' });
    assert.deepEqual(await (await fetch(`${url}/orders/42`)).json(), { id: '42', item: 'book' });
    assert.equal((await fetch(`${url}/orders/7`)).status, 404);
    assert.equal(await (await fetch(`${sidecar}/v1.0/state/statestore/order-42`)).text(), '{"id":"42","item":"book"}');
    assert.equal((await fetch(`${url}/orders`, { method: 'POST', body: '{"item":"no id"}' })).status, 400);
    const deliver = (data: unknown) =>
      fetch(`${url}/events/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ id: 'e', source: 'orders', type: 'com.dapr.event.sent', specversion: '1.0', data }),
      }).then((r) => r.json());
    assert.deepEqual(await deliver({ id: '42' }), { status: 'SUCCESS' });
    assert.deepEqual(await deliver({ id: '43' }), { status: 'SUCCESS' });
    assert.deepEqual(await deliver({ nothing: true }), { status: 'DROP' });
    assert.deepEqual(await (await fetch(`${url}/stats`)).json(), { received: 2 });
    stopServer();
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
