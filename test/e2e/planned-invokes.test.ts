/**
 * Planned invocations (`mortar:component/invoke-plan`): an output binding describes the I/O of each
 * invocation, the sandbox worker performs it without blocking the instance, and the component decodes the
 * replies, many invocations at once. Checked on a real sidecar with one instance per component, against real
 * Redis and a local HTTP server: invocations really overlap in that one instance, answer as `invoke` would,
 * a request whose plan traps fails alone, and one whose finish traps never has its I/O run twice.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_HOST, Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

const run = randomUUID().slice(0, 8);

describe('planned invocations', () => {
  let sc: Sidecar;
  let redis: Redis;
  let target: Server;
  /** Requests the HTTP target holds at once, and the most it ever held. */
  let holding = 0;
  let mostHeld = 0;

  before(async () => {
    // The target answers each request 300 ms after it arrives, echoing the body.
    target = createServer((req, res) => {
      holding++;
      mostHeld = Math.max(mostHeld, holding);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        setTimeout(() => {
          holding--;
          res.setHeader('content-type', 'application/json');
          res.setHeader('x-seen', req.url ?? '');
          res.end(Buffer.concat(chunks));
        }, 300),
      );
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as AddressInfo).port;
    const [host, rport] = REDIS_HOST.split(':');
    redis = new Redis({ host, port: Number(rport) });

    const dir = tempDir('planned-invokes');
    writeComponent(dir, 'slow.yaml', 'slow', 'bindings.http', { url: `http://127.0.0.1:${port}/in` });
    writeComponent(dir, 'cache.yaml', 'cache', 'bindings.redis', { redisHost: REDIS_HOST });
    copyFileSync(join(TEST_COMPONENTS, 'bindings.plan-fixture.wasm'), join(dir, 'bindings.plan-fixture.wasm'));
    writeComponent(dir, 'plans.yaml', 'plans', 'bindings.plan-fixture', { redisHost: REDIS_HOST, waitUrl: `http://127.0.0.1:${port}/wait` });
    sc = await Sidecar.start({ resourcesPath: dir, args: ['--instances', '1'] });
  });
  after(async () => {
    await sc?.stop();
    redis?.disconnect();
    target?.closeAllConnections();
    await new Promise((r) => target?.close(r));
  });

  const send = (name: string, body: unknown) => sc.json('POST', `/v1.0/bindings/${name}`, body);

  it('overlaps 8 slow HTTP invocations in one instance: all 8 reach the server at once and finish in about one round trip', async () => {
    mostHeld = 0;
    const t0 = performance.now();
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => send('slow', { operation: 'post', data: { i }, metadata: { path: `n${i}` } })));
    const ms = performance.now() - t0;
    replies.forEach((r, i) => {
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { i });
      assert.equal(r.headers.get('metadata.statusCode'), '200');
      assert.equal(r.headers.get('metadata.X-Seen'), `/in/n${i}`);
    });
    assert.equal(mostHeld, 8, 'the target held every request at once');
    // Served one after another they would take 8 x 300 ms.
    assert.ok(ms < 1500, `8 invocations of 300 ms took ${Math.round(ms)} ms`);
  });

  it("bindings.redis answers planned creates, gets and deletes exactly as invoke does, on the worker's own connection", async () => {
    const key = `planned-${run}`;
    assert.equal((await send('cache', { operation: 'create', data: { n: 1 }, metadata: { key, ttlInSeconds: '100' } })).status, 204);
    assert.equal(await redis.get(key), '{"n":1}');
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
    const got = await send('cache', { operation: 'get', metadata: { key } });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, { n: 1 });
    // increment with a TTL is left to invoke (INCR, then EXPIRE only if INCR succeeded).
    const counter = `${key}-n`;
    assert.equal((await send('cache', { operation: 'increment', metadata: { key: counter, ttlInSeconds: '50' } })).status, 204);
    assert.equal(await redis.get(counter), '1');
    assert.ok((await redis.ttl(counter)) > 40);
    assert.equal((await send('cache', { operation: 'delete', metadata: { key } })).status, 204);
    assert.equal(await redis.exists(key), 0);
    const missing = await send('cache', { operation: 'get', metadata: { key } });
    assert.equal(missing.status, 200);
    assert.equal(missing.text, '');
    const noKey = await send('cache', { operation: 'create', data: 1 });
    assert.equal(noKey.status, 500);
    assert.match(noKey.text, /missing key in request metadata/);
    const clients = String(await redis.call('CLIENT', 'LIST'));
    assert.match(clients, /name=mortar-planned-io /);
  });

  it('serves a request the plan leaves out through invoke', async () => {
    const r = await send('plans', { operation: 'unplanned' });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'invoked');
  });

  it('fails only the request whose plan traps; the others of its batch are planned again, in halves, and answer', async () => {
    for (let round = 0; round < 2; round++) {
      // While the instance is held, the 20 echoes and the trap queue up: they are planned as one batch. Held
      // 0.7 s: on a loaded machine 21 requests can take a few hundred ms to reach the sidecar, and one that came
      // after the hold would be planned in a batch of its own, whose I/O the trap's batch would then fail.
      const hold = send('plans', { operation: 'hold', metadata: { ms: '700' } });
      await new Promise((r) => setTimeout(r, 50));
      const echoes = Array.from({ length: 20 }, (_, i) => send('plans', { operation: 'echo', data: { round, i } }));
      const trap = send('plans', { operation: 'trap-plan' });
      const [held, bad, ...good] = await Promise.all([hold, trap, ...echoes]);
      assert.equal(held!.status, 204);
      assert.equal(bad!.status, 500);
      assert.match(bad!.text, /ERR_INVOKE_OUTPUT_BINDING.*trapped/);
      good.forEach((r, i) => {
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body, { round, i });
      });
    }
    assert.ok(sc.logs.some((l) => l.includes('each half of it is planned again on its own')));
  });

  it('finds the request whose plan traps by halving its batch: 30 invocations of a 300 ms backend queued with it all answer before their 5 s deadline', async () => {
    // One after another (each planned alone, none while another's I/O is in flight) they would take 30 x 300 ms.
    // Held 0.7 s, so that all 31 are queued behind it (see the test above).
    const hold = send('plans', { operation: 'hold', metadata: { ms: '700' } });
    await new Promise((r) => setTimeout(r, 50));
    const waits = Array.from({ length: 30 }, () => send('plans', { operation: 'wait' }));
    const trap = send('plans', { operation: 'trap-plan' });
    const [held, bad, ...good] = await Promise.all([hold, trap, ...waits]);
    assert.equal(held!.status, 204);
    assert.equal(bad!.status, 500);
    assert.match(bad!.text, /trapped/);
    for (const r of good) assert.equal(r.status, 204, r.text);
  });

  it("never runs an invocation's I/O twice when a finish traps: every INCR of the batch happened exactly once", async () => {
    const key = `planned-count-${run}`;
    const counts = Array.from({ length: 20 }, () => send('plans', { operation: 'count', metadata: { key } }));
    const trap = send('plans', { operation: 'trap-finish', metadata: { key: `${key}-trap` } });
    const [bad, ...rest] = await Promise.all([trap, ...counts]);
    assert.equal(bad!.status, 500);
    assert.equal(await redis.get(`${key}-trap`), '1');
    // Each count invocation ran once, whether its caller got 204 or the batch's trap.
    assert.equal(await redis.get(key), '20');
    for (const r of rest) assert.ok(r.status === 204 || r.status === 500, `status ${r.status}`);
    // The sidecar goes on serving with a new instance.
    const after = await send('plans', { operation: 'echo', data: 'still here' });
    assert.equal(after.status, 200);
    assert.equal(after.body, 'still here');
  });
});
