/**
 * A backend that goes away: requests fail fast with Dapr's error, the sidecar keeps serving everything
 * else, and the store works again once the backend is back. Uses a private redis-server on a spare port.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Sidecar, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

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
