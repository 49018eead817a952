/**
 * Discovery and hot reload: resources and .wasm files added, changed or removed while the sidecar runs
 * take effect within 2 s, a new version is swapped in without a gap, and bad files are refused with one
 * log line naming the file, the field and the reason while everything else keeps serving.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_COMPONENTS, REDIS_HOST, Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

let sc: Sidecar;
let dir: string;

async function components(): Promise<Array<{ name: string; type: string }>> {
  return ((await sc.json('GET', '/v1.0/metadata')).body as { components: Array<{ name: string; type: string }> }).components;
}

/** Polls until `pred` holds; returns how long it took. Fails after 2 s (the bound). */
async function within2s(what: string, pred: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < 2000) {
    if (await pred()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${what} did not take effect within 2 s`);
}

const listed = (name: string) => async () => (await components()).some((c) => c.name === name);

describe('discovery and hot reload', () => {
  before(async () => {
    dir = tempDir('reload');
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    // A user .wasm present from the start (a built-in with a custom section: a different file, serving a
    // type no resource here uses), so the sidecar has transpiled once before the drop-in tests, as one
    // that loaded user components has. Built-ins ship prebuilt and no longer warm jco up on a first start;
    // jco's first transpile in a process runs its bindgen cold, which is not what the 2 s bound measures.
    const name = Buffer.from('mortar-test');
    const payload = Buffer.concat([Buffer.from([name.length]), name, Buffer.from('warm')]);
    writeFileSync(
      join(dir, 'warm-up.wasm'),
      Buffer.concat([readFileSync(join(BUILTIN_COMPONENTS, 'pubsub.in-memory.wasm')), Buffer.from([0, payload.length]), payload]),
    );
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
  });

  it('a YAML added while running is served within 2 s', async () => {
    writeComponent(dir, 'lite.yaml', 'lite', 'state.sqlite', { connectionString: 'reload.db' });
    await within2s('new component', listed('lite'));
    assert.equal((await sc.json('POST', '/v1.0/state/lite', [{ key: 'k', value: 'v1' }])).status, 204);
  });

  it('a changed YAML brings up the new version beside the old one and swaps with no failed request', async () => {
    let stop = false;
    let ok = 0;
    const failures: number[] = [];
    const load = (async () => {
      while (!stop) {
        const r = await sc.fetch('/v1.0/state/lite/k');
        if (r.status === 200 && (await r.text()) === '"v1"') ok++;
        else failures.push(r.status);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    writeComponent(dir, 'lite.yaml', 'lite', 'state.sqlite', { connectionString: 'reload.db', timeout: '5s' });
    await sc.waitForLog((l) => l.includes('component lite (state.sqlite) reloaded'), 2000);
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await load;
    assert.deepEqual(failures, [], 'no request failed during the swap');
    assert.ok(ok > 20, `served ${ok} requests during the swap`);
  });

  it('invalid YAML is refused with one line naming the file; the old version keeps serving', async () => {
    const file = join(dir, 'lite.yaml');
    writeFileSync(file, 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: [unclosed\n');
    const line = await sc.waitForLog((l) => l.includes('refused') && l.includes('lite.yaml') && l.includes('(yaml)'), 2000);
    assert.match(line, /lite\.yaml/);
    assert.equal(await (await sc.fetch('/v1.0/state/lite/k')).text(), '"v1"');
  });

  it("a YAML emptied while running (an editor's truncate, then write) keeps its component serving until it has content again", async () => {
    const file = join(dir, 'lite.yaml');
    const before = readFileSync(file);
    writeFileSync(file, '');
    // Several polls (200 ms each) see the empty file: the component stays.
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(await listed('lite')());
    assert.equal(await (await sc.fetch('/v1.0/state/lite/k')).text(), '"v1"');
    writeFileSync(file, before);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await (await sc.fetch('/v1.0/state/lite/k')).text(), '"v1"');
  });

  it('wrong metadata is refused naming the field and the reason', async () => {
    writeComponent(dir, 'bad-db.yaml', 'baddb', 'state.redis', { redisHost: REDIS_HOST, redisDB: 'abc' });
    const line = await sc.waitForLog((l) => l.includes('bad-db.yaml') && l.includes('refused'), 2000);
    assert.match(line, /field 'redisDB' must be integer/);
    writeComponent(dir, 'no-host.yaml', 'nohost', 'state.redis', {});
    const line2 = await sc.waitForLog((l) => l.includes('no-host.yaml') && l.includes('refused'), 2000);
    assert.match(line2, /field 'redisHost' is required/);
    writeComponent(dir, 'extra.yaml', 'extra', 'state.in-memory', { bogusField: 'x' });
    const line3 = await sc.waitForLog((l) => l.includes('extra.yaml') && l.includes('refused'), 2000);
    assert.match(line3, /field 'bogusField' is not a known field/);
    // Refused once, not again on every later rescan.
    await new Promise((r) => setTimeout(r, 500));
    writeComponent(dir, 'unrelated.yaml', 'unrelated', 'state.in-memory');
    await within2s('unrelated component', listed('unrelated'));
    assert.equal(sc.logs.filter((l) => l.includes('extra.yaml') && l.includes('refused')).length, 1);
    const names = (await components()).map((c) => c.name);
    assert.ok(!names.includes('baddb') && !names.includes('nohost') && !names.includes('extra'));
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
  });

  it('a new version that fails to start is refused and the old one keeps serving', async () => {
    writeComponent(dir, 'lite.yaml', 'lite', 'state.sqlite', { connectionString: '../escape.db' });
    const line = await sc.waitForLog((l) => l.includes('lite.yaml') && l.includes("field 'connectionString' must match pattern"), 2000);
    assert.match(line, /refused/);
    assert.equal(await (await sc.fetch('/v1.0/state/lite/k')).text(), '"v1"');
    writeComponent(dir, 'redis-down.yaml', 'down', 'state.redis', { redisHost: '127.0.0.1:1' });
    const line2 = await sc.waitForLog((l) => l.includes('redis-down.yaml') && l.includes('init failed'), 5000);
    assert.match(line2, /redisHost 127\.0\.0\.1:1/);
    assert.ok(!(await components()).some((c) => c.name === 'down'));
  });

  it('an unknown type is refused naming spec.type', async () => {
    writeComponent(dir, 'unknown.yaml', 'mystery', 'state.nonexistent');
    const line = await sc.waitForLog((l) => l.includes('unknown.yaml') && l.includes("spec.type 'state.nonexistent' is not served"), 2000);
    assert.match(line, /known: .*state\.redis/);
  });

  it('Subscription and Resiliency files are taken in; Configuration and HTTPEndpoint files are accepted and ignored', async () => {
    writeFileSync(
      join(dir, 'sub.yaml'),
      `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: orders-sub
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    default: /orders
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: res
spec:
  policies: {}
`,
    );
    await sc.waitForLog((l) => l.includes('resiliency res loaded from') && l.includes('sub.yaml'), 2000);
    const md = await sc.json('GET', '/v1.0/metadata');
    const subs = (md.body as { subscriptions: Array<{ pubsubname: string; topic: string; type: string; rules: Array<{ path: string }> }> }).subscriptions;
    assert.deepEqual(
      subs.map((x) => [x.pubsubname, x.topic, x.type, x.rules.map((r) => r.path)]),
      [['pubsub', 'orders', 'DECLARATIVE', ['/orders']]],
    );
    assert.ok(!sc.logs.some((l) => l.includes('refused') && l.includes('sub.yaml')));
  });

  it('a broken .wasm is refused with one line; the rest keeps serving', async () => {
    writeFileSync(join(dir, 'broken.wasm'), Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), Buffer.alloc(64, 7)]));
    const line = await sc.waitForLog((l) => l.includes('broken.wasm') && l.includes('not a loadable mortar component'), 2000);
    assert.match(line, /refused/);
    writeFileSync(join(dir, 'junk.wasm'), 'this is not wasm');
    await sc.waitForLog((l) => l.includes('junk.wasm') && l.includes('magic'), 2000);
    assert.equal(await (await sc.fetch('/v1.0/state/lite/k')).text(), '"v1"');
  });

  it('a .wasm dropped in with its YAML is served within 2 s; a changed .wasm reloads the components using it', async () => {
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(dir, 'hostile.wasm'));
    writeComponent(dir, 'hostile.yaml', 'echo', 'state.hostile');
    await within2s('dropped-in component', listed('echo'));
    assert.equal(await (await sc.fetch('/v1.0/state/echo/hi')).text(), '"hi"');
    // A user .wasm declaring state.in-memory takes over that type from the built-in: `mem` is reloaded.
    // (A custom section makes it a different file with the same behaviour.)
    const name = Buffer.from('mortar-test');
    const payload = Buffer.concat([Buffer.from([name.length]), name, Buffer.from('v2')]);
    writeFileSync(
      join(dir, 'my-memory.wasm'),
      Buffer.concat([readFileSync(join(BUILTIN_COMPONENTS, 'state.in-memory.wasm')), Buffer.from([0, payload.length]), payload]),
    );
    await sc.waitForLog((l) => l.includes('component mem (state.in-memory) reloaded'), 2000);
  });

  it('a removed .wasm takes effect within 2 s: its components fall back to another module or stop', async () => {
    rmSync(join(dir, 'my-memory.wasm'));
    await sc.waitForLog((l) => l.includes('my-memory.wasm removed'), 2000);
    await sc.waitForLog((l) => l.includes('component mem (state.in-memory) reloaded') && l.includes('dist/components/state.in-memory.wasm'), 2000);
    rmSync(join(dir, 'hostile.wasm'));
    await within2s('removal of the only module serving state.hostile', async () => !(await listed('echo')()));
    writeComponent(dir, 'hostile.yaml', 'echo', 'state.hostile');
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(dir, 'hostile.wasm'));
    await within2s('hostile back', listed('echo'));
  });

  it('a removed YAML takes the component out of service within 2 s', async () => {
    rmSync(join(dir, 'hostile.yaml'));
    await within2s('removal', async () => !(await listed('echo')()));
    const r = await sc.json('GET', '/v1.0/state/echo/hi');
    assert.equal(r.status, 400);
    assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_STATE_STORE_NOT_FOUND');
  });
});
