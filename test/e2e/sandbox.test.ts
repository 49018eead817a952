/**
 * A component that traps, loops forever or exhausts its memory is killed and replaced; the sidecar and
 * every other component keep serving. A component reaches only the hosts its metadata grants.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { REDIS_HOST, Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

let sc: Sidecar;

async function getText(path: string): Promise<{ status: number; text: string }> {
  const r = await sc.fetch(path);
  return { status: r.status, text: await r.text() };
}

describe('sandbox: hostile components', () => {
  before(async () => {
    const dir = tempDir('hostile');
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(dir, 'hostile.wasm'));
    writeComponent(dir, 'hostile.yaml', 'hostile', 'state.hostile', { redisHost: REDIS_HOST });
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    // The same component with an empty YAML: only its schema's default names a Redis address.
    writeComponent(dir, 'selfgrant.yaml', 'selfgrant', 'state.hostile');
    sc = await Sidecar.start({ resourcesPath: dir, args: ['--component-call-timeout', '1500', '--component-memory', '64Mi', '--instances', '2'] });
    assert.equal((await sc.json('POST', '/v1.0/state/mem', [{ key: 'keep', value: 'safe' }])).status, 204);
  });
  after(async () => {
    await sc?.stop();
  });

  const othersStillServe = async () => {
    assert.equal((await getText('/v1.0/state/mem/keep')).text, '"safe"', 'the other component kept its data');
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
  };

  it('serves normal calls', async () => {
    assert.deepEqual(await getText('/v1.0/state/hostile/hello'), { status: 200, text: '"hello"' });
  });

  it('a trap fails that call with 500 and the instance is replaced', async () => {
    const r = await sc.json('GET', '/v1.0/state/hostile/trap');
    assert.equal(r.status, 500);
    assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_STATE_GET');
    assert.match((r.body as { message: string }).message, /trapped/);
    await sc.waitForLog((l) => l.includes('instance replaced') && l.includes('trapped'));
    // What the guest printed as it failed (QuickJS's panic message) is a log line of the component.
    const panic = await sc.waitForLog((l) => l.includes('panicked') && l.includes('hostile'));
    assert.match(panic, /WARN/);
    await othersStillServe();
    assert.equal((await getText('/v1.0/state/hostile/after-trap')).text, '"after-trap"');
  });

  it('an endless loop is cut off after the call timeout and the instance is replaced', async () => {
    const t0 = Date.now();
    const pending = sc.json('GET', '/v1.0/state/hostile/loop');
    // While one instance spins, the sidecar and the other instance keep answering.
    await othersStillServe();
    assert.equal((await getText('/v1.0/state/hostile/during-loop')).text, '"during-loop"');
    const r = await pending;
    assert.equal(r.status, 500);
    assert.match((r.body as { message: string }).message, /did not answer within 1500ms/);
    assert.ok(Date.now() - t0 < 6000, 'cut off promptly');
    await othersStillServe();
    assert.equal((await getText('/v1.0/state/hostile/after-loop')).text, '"after-loop"');
  });

  it('exhausting memory traps at the configured cap instead of growing without bound', async () => {
    const r = await sc.json('GET', '/v1.0/state/hostile/hog');
    assert.equal(r.status, 500);
    // QuickJS's allocator fails when memory.grow hits the cap: the guest traps rather than returning.
    assert.match((r.body as { message: string }).message, /trapped/);
    await othersStillServe();
    assert.equal((await getText('/v1.0/state/hostile/after-hog')).text, '"after-hog"');
    const rss = Number((await import('node:fs')).readFileSync(`/proc/${sc.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1]) * 1024;
    assert.ok(rss < 1024 ** 3, `sidecar RSS ${Math.round(rss / 1e6)} MB stays bounded`);
  });

  it('several hostile calls at once do not take the sidecar down', async () => {
    const rs = await Promise.all(['trap', 'trap', 'hog', 'ok1', 'ok2'].map((k) => getText(`/v1.0/state/hostile/${k}`)));
    assert.deepEqual(
      rs.map((r) => r.status),
      [500, 500, 500, 200, 200],
    );
    await othersStillServe();
  });

  it('no ambient authority: only the granted Redis address is reachable', async () => {
    assert.equal((await getText(`/v1.0/state/hostile/connect:${REDIS_HOST}`)).text, '"connected"');
    const denied = await getText('/v1.0/state/hostile/connect:127.0.0.1:6380');
    assert.match(denied.text, /refused: access-denied: redis 127.0.0.1:6380 is not granted to component hostile/);
    await sc.waitForLog((l) => l.includes('may not reach redis 127.0.0.1:6380'));
  });

  it('a schema default grants nothing: a component that defaults its own redisHost to a live Redis is refused a connection there', async () => {
    // The address the hostile schema's default names (test/fixtures/components/hostile).
    const defaulted = '127.0.0.1:6379';
    const warned = await sc.waitForLog((l) => l.includes('component selfgrant') && l.includes("'redisHost' is not set in") && l.includes('grants no endpoint'));
    assert.match(warned, /selfgrant\.yaml/);
    const denied = await getText('/v1.0/state/selfgrant/connect-own');
    assert.equal(denied.text, `"refused: access-denied: redis ${defaulted} is not granted to component selfgrant"`);
    await sc.waitForLog((l) => l.includes(`component selfgrant may not reach redis ${defaulted}`));
    // The same component reaches the address its YAML wrote.
    assert.equal((await getText('/v1.0/state/hostile/connect-own')).text, '"connected"');
  });
});

describe('sandbox: one stuck call does not stall its component', () => {
  let one: Sidecar;
  before(async () => {
    const dir = tempDir('hostile-one');
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(dir, 'hostile.wasm'));
    writeComponent(dir, 'hostile.yaml', 'hostile', 'state.hostile', { redisHost: REDIS_HOST });
    // One instance per component: the default pool on 2 cores. The call deadline is the default (5 s).
    one = await Sidecar.start({ resourcesPath: dir, args: ['--instances', '1'] });
  });
  after(async () => {
    await one?.stop();
  });

  const timedGet = async (key: string) => {
    const t0 = performance.now();
    const r = await one.fetch(`/v1.0/state/hostile/${key}`);
    return { key, status: r.status, text: await r.text(), ms: Math.round(performance.now() - t0) };
  };

  it('while one call loops, innocent calls to the same component answer within 2 s each, and the loop gets its 500 at the deadline', async () => {
    assert.equal((await timedGet('warm')).status, 200);
    const t0 = performance.now();
    const looping = one.json('GET', '/v1.0/state/hostile/loop');
    await new Promise((r) => setTimeout(r, 100));
    const innocent: Array<ReturnType<typeof timedGet>> = [];
    for (let i = 0; i < 12; i++) {
      innocent.push(timedGet(`innocent-${i}`), timedGet(`innocent-${i}b`));
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const r of await Promise.all(innocent)) {
      assert.deepEqual([r.status, r.text], [200, JSON.stringify(r.key)]);
      assert.ok(r.ms < 2000, `${r.key} waited ${r.ms} ms behind the looping call`);
    }
    const loop = await looping;
    assert.equal(loop.status, 500);
    assert.match((loop.body as { message: string }).message, /did not answer within 5000ms/);
    assert.ok(performance.now() - t0 < 5000 + 1500, 'the loop is cut off at its deadline');
    await one.waitForLog((l) => l.includes('instance replaced') && l.includes('past its 5000ms deadline'));
    assert.equal((await timedGet('after')).status, 200);
  });
});
