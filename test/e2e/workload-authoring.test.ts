/**
 * Writing a Wasm workload as a newcomer would, and running it on the real engine: `mortar component new <name>
 * --workload` in an empty folder outside the repository, `mortar component build`, a `spin.toml` whose component
 * source is the built .wasm, then `mortar up`. The component exports `wasi:http/incoming-handler` and imports
 * `mortar:app` (read back from the .wasm with jco); its requests are served on `--listen`, its state is read
 * through the Dapr HTTP API of the same sidecar (and written there, read back by the guest), and what it
 * publishes is delivered by the sidecar to its own subscription (under `mortar up` the workload is the
 * sidecar's app). The same for the example in `examples/workload/`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { componentWit } from '@bytecodealliance/jco';
import { BIN, freePort, ROOT, tempDir } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';
import { WORKLOAD_LIMITS } from '../../host/src/workloads/limits.js';

const exec = promisify(execFile);

/** The interfaces a component imports and exports, from its WIT as jco prints it. */
async function worldOf(wasm: string): Promise<{ imports: string[]; exports: string[] }> {
  const wit = await componentWit(readFileSync(wasm));
  const names = (kind: string) => [...wit.matchAll(new RegExp(`^\\s*${kind} ([^;]+);$`, 'gm'))].map((m) => m[1]!);
  return { imports: names('import'), exports: names('export') };
}

describe('workload authoring: new --workload, build, mortar up', () => {
  let work: string;
  let newAt = 0;
  let running: { proc: ChildProcess; exited: Promise<number | null>; logs: string[] } | undefined;
  const mortar = (args: string[], cwd: string) => exec(process.execPath, [BIN, ...args], { cwd, maxBuffer: 16 * 1024 * 1024 });

  before(() => {
    work = realpathSync(tempDir('workload-authoring'));
    assert.ok(!work.startsWith(realpathSync(ROOT)), 'the work folder is outside the repository');
  });

  /** Stops `mortar up` (SIGTERM) and resolves with its exit code. */
  const stopUp = async (): Promise<number | null> => {
    const r = running;
    running = undefined;
    if (!r) return null;
    if (r.proc.exitCode === null) r.proc.kill('SIGTERM');
    return r.exited;
  };

  /**
   * Runs `mortar up` on `dir/spin.toml` with the embedded default components (the workload is the sidecar's
   * app); resolves with both addresses once the listener answers and the sidecar is ready.
   */
  const up = async (dir: string): Promise<{ url: string; sidecar: string }> => {
    const [listen, http, grpc] = [await freePort(), await freePort(), await freePort()];
    const proc = spawn(
      process.execPath,
      [BIN, 'up', '--listen', `127.0.0.1:${listen}`, '--dapr-http-port', String(http), '--dapr-grpc-port', String(grpc), '--data-dir', join(dir, '.data')],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MORTAR_LOG_FORMAT: 'text' } },
    );
    const logs: string[] = [];
    proc.stdout!.on('data', (b: Buffer) => logs.push(b.toString()));
    proc.stderr!.on('data', (b: Buffer) => logs.push(b.toString()));
    running = { proc, exited: new Promise((r) => proc.once('exit', r)), logs };
    const url = `http://127.0.0.1:${listen}`;
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`mortar up exited ${proc.exitCode}: ${logs.join('')}`);
        return fetch(`${url}/.well-known/spin/health`).then(
          (r) => r.status === 200,
          () => false,
        );
      },
      'the workload listener',
      60_000,
    );
    const sidecar = `http://127.0.0.1:${http}`;
    // Ready once the app (the workload) is reachable and its subscriptions are established (Dapr's healthz).
    await waitUntil(
      () =>
        fetch(`${sidecar}/v1.0/healthz`).then(
          (r) => r.status === 204,
          () => false,
        ),
      'the sidecar ready with the workload as its app',
      30_000,
    );
    return { url, sidecar };
  };

  after(async () => {
    await stopUp();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the template builds on a clean folder into a component exporting wasi:http/incoming-handler and importing mortar:app', async (t) => {
    const t0 = Date.now();
    newAt = t0;
    const made = await mortar(['component', 'new', 'hello', '--workload'], work);
    assert.match(made.stdout, /created hello\/ \(workload, world mortar:app\/workload\)/);
    for (const f of ['index.ts', 'spin.toml', 'package.json', 'tsconfig.json', 'types/workload.d.ts', 'types/interfaces/mortar-app-state.d.ts']) {
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

  it("the built template runs under mortar up: served on --listen, its counter read and written through the sidecar's /v1.0/state, its published note delivered back to it, a call over the byte bound refused to the guest", async (t) => {
    const dir = join(work, 'hello');
    // The template's own spin.toml: application `hello`, every path to hello.wasm.
    const { url, sidecar } = await up(dir);
    const hello = await fetch(`${url}/hello`);
    t.diagnostic(`new --workload to the first request served by mortar up: ${((Date.now() - newAt) / 1000).toFixed(1)} s`);
    assert.equal(hello.status, 200);
    assert.deepEqual(await hello.json(), { hello: 'hello' }, 'the app id is application.name');
    const count = async () => ((await (await fetch(`${url}/counter`, { method: 'POST' })).json()) as { value: number }).value;
    const values: number[] = [];
    for (let i = 0; i < 3; i++) values.push(await count());
    assert.deepEqual(values, [1, 2, 3]);
    assert.deepEqual(await (await fetch(`${url}/counter`)).json(), { value: 3 });
    // The guest's key through the Dapr HTTP API of the same sidecar, as an HTTP app of the same app id reads it...
    const fromHttp = await fetch(`${sidecar}/v1.0/state/statestore/counter`);
    assert.equal(fromHttp.status, 200);
    assert.equal(await fromHttp.text(), '3');
    // ...and the other way: a value an HTTP app saves is what the guest reads and increments.
    const saved = await fetch(`${sidecar}/v1.0/state/statestore`, { method: 'POST', body: JSON.stringify([{ key: 'counter', value: 10 }]) });
    assert.equal(saved.status, 204);
    assert.equal(await count(), 11);
    // The subscription as the sidecar read it from the workload (GET /dapr/subscribe through the listener).
    assert.deepEqual(await (await fetch(`${url}/dapr/subscribe`)).json(), [{ pubsubname: 'pubsub', topic: 'notes', route: '/events/notes' }]);
    const md = (await (await fetch(`${sidecar}/v1.0/metadata`)).json()) as { subscriptions: Array<{ topic: string; rules: Array<{ path: string }> }> };
    assert.deepEqual(
      md.subscriptions.map((s) => [s.topic, s.rules.map((r) => r.path)]),
      [['notes', ['/events/notes']]],
    );
    // Published by the guest through mortar:app, delivered by the sidecar to the guest's route, saved by it.
    const published = await fetch(`${url}/notes`, { method: 'POST', body: JSON.stringify({ text: 'hi' }) });
    assert.equal(published.status, 202);
    let note = '';
    await waitUntil(async () => {
      const r = await fetch(`${sidecar}/v1.0/state/statestore/last-note`);
      note = r.status === 200 ? await r.text() : '';
      return note !== '';
    }, 'the note delivered to the workload');
    assert.equal(note, '{"text":"hi"}');
    assert.equal((await fetch(`${url}/notes`, { method: 'POST', body: 'not json' })).status, 400);
    // A 4 MiB JSON string (the most a request body may be) makes a publish whose arguments are over the 4 MiB one
    // mortar:app call may send: the guest gets bad-request (its SDK's AppError, answered 500), the next request is served.
    const big = `"${'a'.repeat(WORKLOAD_LIMITS.requestBodyBytes - 2)}"`;
    const over = await fetch(`${url}/notes`, { method: 'POST', body: big });
    assert.equal(over.status, 500);
    assert.equal(
      await over.text(),
      `AppError: invalid request: mortar:app pubsub.publish: the arguments are over the ${WORKLOAD_LIMITS.appCallBytes} bytes a workload may send in one call`,
    );
    assert.deepEqual(await (await fetch(`${url}/counter`)).json(), { value: 11 });
    const logs = running!.logs;
    assert.equal(await stopUp(), 0, logs.join(''));
  });

  it('the example workload runs under mortar up: orders saved and read back (also through /v1.0/state), published and delivered to its own subscription, counted under ETags', async () => {
    const dir = join(work, 'orders');
    mkdirSync(dir);
    const built = await mortar(['component', 'build', join(ROOT, 'examples/workload/index.ts'), '-o', join(dir, 'orders.wasm')], work);
    assert.match(built.stdout, /exports wasi:http\/incoming-handler@0\.2\.12/);
    const w = await worldOf(join(dir, 'orders.wasm'));
    assert.ok(w.imports.includes('mortar:app/state@0.1.0') && w.imports.includes('mortar:app/pubsub@0.1.0'), w.imports.join(', '));
    writeFileSync(
      join(dir, 'spin.toml'),
      'spin_manifest_version = 2\n\n[application]\nname = "orders"\n\n[[trigger.http]]\nroute = "/..."\ncomponent = "orders"\n\n[component.orders]\nsource = "orders.wasm"\n',
    );
    const { url, sidecar } = await up(dir);
    const saved = await fetch(`${url}/orders`, { method: 'POST', body: JSON.stringify({ id: '42', item: 'book' }) });
    assert.equal(saved.status, 201);
    assert.deepEqual(await saved.json(), { saved: '42', by: 'orders' });
    assert.deepEqual(await (await fetch(`${url}/orders/42`)).json(), { id: '42', item: 'book' });
    assert.equal((await fetch(`${url}/orders/7`)).status, 404);
    assert.equal(await (await fetch(`${sidecar}/v1.0/state/statestore/order-42`)).text(), '{"id":"42","item":"book"}');
    assert.equal((await fetch(`${url}/orders`, { method: 'POST', body: '{"item":"no id"}' })).status, 400);
    // Order 42 was published to `orders`; the sidecar delivers it to the workload's subscription, which counts it.
    const received = async () => ((await (await fetch(`${url}/stats`)).json()) as { received: number }).received;
    await waitUntil(async () => (await received()) === 1, 'order 42 delivered to /events/orders');
    const second = await fetch(`${url}/orders`, { method: 'POST', body: JSON.stringify({ id: '43', item: 'pen' }) });
    assert.equal(second.status, 201);
    await waitUntil(async () => (await received()) === 2, 'order 43 delivered to /events/orders');
    assert.equal(await (await fetch(`${sidecar}/v1.0/state/statestore/received`)).text(), '2');
    // An event without an id, posted to the route as the sidecar posts a delivery: dropped, not counted.
    const dropped = await fetch(`${url}/events/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ id: 'e', source: 'orders', type: 'com.dapr.event.sent', specversion: '1.0', data: { nothing: true } }),
    });
    assert.deepEqual(await dropped.json(), { status: 'DROP' });
    assert.equal(await received(), 2);
    const logs = running!.logs;
    assert.equal(await stopUp(), 0, logs.join(''));
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
