/**
 * A backend that goes away: requests fail fast with Dapr's error, the sidecar keeps serving everything
 * else, and the store works again once the backend is back. Uses a private redis-server on a spare port.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Sidecar, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';
import { PrivateBroker } from '../helpers/private-broker.js';

async function redisServer(port: number): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const { Redis } = await import('ioredis');
      const c = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      await c.connect();
      await c.ping();
      c.disconnect();
      return p;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('redis-server did not start');
}

describe('backend outage', () => {
  let sc: Sidecar;
  let redis: ChildProcess;
  let port: number;
  before(async () => {
    port = await freePort();
    redis = await redisServer(port);
    const dir = tempDir('outage');
    writeComponent(dir, 'cache.yaml', 'cache', 'state.redis', { redisHost: `127.0.0.1:${port}` });
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
    redis?.kill('SIGKILL');
  });

  it('fails fast with 500 while Redis is down, keeps serving the rest, and recovers', async () => {
    assert.equal((await sc.json('POST', '/v1.0/state/cache', [{ key: 'k', value: 'before' }])).status, 204);
    redis.kill('SIGKILL');
    await new Promise((r) => redis.once('exit', r));

    const t0 = Date.now();
    const r = await sc.json('GET', '/v1.0/state/cache/k');
    assert.equal(r.status, 500);
    assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_STATE_GET');
    assert.ok(Date.now() - t0 < 8000, `failed within ${Date.now() - t0} ms`);
    const w = await sc.json('POST', '/v1.0/state/cache', [{ key: 'k2', value: 'x' }]);
    assert.equal(w.status, 500);
    assert.equal((w.body as { errorCode: string }).errorCode, 'ERR_STATE_SAVE');

    // Everything else keeps serving.
    assert.equal((await sc.json('POST', '/v1.0/state/mem', [{ key: 'k', value: 1 }])).status, 204);
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);

    // Redis comes back (empty: it keeps nothing on disk); the store serves again without a restart.
    redis = await redisServer(port);
    await waitUntil(async () => (await sc.json('POST', '/v1.0/state/cache', [{ key: 'k3', value: 'after' }])).status === 204, 'a save once Redis is back');
    assert.equal(await (await sc.fetch('/v1.0/state/cache/k3')).text(), '"after"');
  });
});

/**
 * A backend that stops answering without going away (SIGSTOP: its connections stay open, nothing comes
 * back). Every component call has a deadline, `--component-call-timeout`, 5 s by default: each request
 * gets Dapr's 500 within it, counted from its own arrival, however many wait beside it.
 */
describe('frozen backend', () => {
  const DEADLINE_MS = 5000;
  /** Scheduling on a busy 2-core machine, plus the deadline checks' 100 ms tick. */
  const SLACK_MS = 1500;
  let sc: Sidecar;
  let redis: PrivateBroker;
  before(async () => {
    redis = await PrivateBroker.start('redis');
    const dir = tempDir('frozen');
    writeComponent(dir, 'cache.yaml', 'cache', 'state.redis', { redisHost: redis.address });
    writeComponent(dir, 'bus.yaml', 'bus', 'pubsub.redis', { redisHost: redis.address });
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
    redis?.signal('SIGCONT');
    await redis?.stop('SIGKILL');
  });

  const timed = async (method: string, path: string, body?: unknown) => {
    const t0 = performance.now();
    const r = await sc.json(method, path, body);
    return { status: r.status, code: (r.body as { errorCode?: string } | undefined)?.errorCode, ms: Math.round(performance.now() - t0) };
  };

  it('reads, writes and publishes on a frozen Redis answer 500 within the call deadline, none queued behind another, and succeed again once it resumes', async () => {
    assert.equal((await sc.json('POST', '/v1.0/state/cache', [{ key: 'k', value: 'v' }])).status, 204);
    assert.equal(await (await sc.fetch('/v1.0/state/cache/k')).text(), '"v"');
    assert.equal((await sc.json('POST', '/v1.0/publish/bus/frozen', { n: 0 })).status, 204);

    redis.signal('SIGSTOP');
    let reads: Array<Awaited<ReturnType<typeof timed>>>;
    let write: Awaited<ReturnType<typeof timed>>;
    let publish: Awaited<ReturnType<typeof timed>>;
    try {
      const wave = () => Array.from({ length: 20 }, () => timed('GET', '/v1.0/state/cache/k'));
      const first = wave();
      // A second wave while the first still waits: it must not wait for the first to fail.
      await new Promise((r) => setTimeout(r, 2000));
      const second = wave();
      const others = [timed('POST', '/v1.0/state/cache', [{ key: 'w', value: 1 }]), timed('POST', '/v1.0/publish/bus/frozen', { n: 1 })];
      reads = await Promise.all([...first, ...second]);
      [write, publish] = (await Promise.all(others)) as [typeof write, typeof publish];
    } finally {
      redis.signal('SIGCONT');
    }
    for (const r of reads) {
      assert.equal(r.status, 500);
      assert.equal(r.code, 'ERR_STATE_GET');
      assert.ok(r.ms < DEADLINE_MS + SLACK_MS, `a read answered after ${r.ms} ms`);
    }
    assert.deepEqual([write.status, write.code], [500, 'ERR_STATE_SAVE']);
    assert.ok(write.ms < DEADLINE_MS + SLACK_MS, `the write answered after ${write.ms} ms`);
    assert.deepEqual([publish.status, publish.code], [500, 'ERR_PUBSUB_PUBLISH_MESSAGE']);
    assert.ok(publish.ms < DEADLINE_MS + SLACK_MS, `the publish answered after ${publish.ms} ms`);

    // Resumed: the store and the broker serve again, promptly, without a restart.
    await waitUntil(async () => (await sc.fetch('/v1.0/state/cache/k')).status === 200, 'a read once Redis resumes');
    const again = await Promise.all(Array.from({ length: 20 }, () => timed('GET', '/v1.0/state/cache/k')));
    for (const r of again) {
      assert.equal(r.status, 200);
      assert.ok(r.ms < 1000, `a read after the thaw took ${r.ms} ms`);
    }
    assert.equal((await sc.json('POST', '/v1.0/state/cache', [{ key: 'w', value: 2 }])).status, 204);
    assert.equal((await sc.json('POST', '/v1.0/publish/bus/frozen', { n: 2 })).status, 204);
  });
});
