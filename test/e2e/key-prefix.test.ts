/**
 * Dapr's key prefix schemes (`keyPrefix`: appid, name, namespace, none, or a literal), checked where the
 * data lands: directly in Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';

describe('key prefix schemes', () => {
  let sc: Sidecar;
  let redis: Redis;
  before(async () => {
    const dir = tempDir('prefix');
    writeComponent(dir, 'a.yaml', 'by-appid', 'state.redis', { redisHost: REDIS_HOST });
    writeComponent(dir, 'b.yaml', 'by-name', 'state.redis', { redisHost: REDIS_HOST, keyPrefix: 'name' });
    writeComponent(dir, 'c.yaml', 'no-prefix', 'state.redis', { redisHost: REDIS_HOST, keyPrefix: 'none' });
    writeComponent(dir, 'd.yaml', 'literal', 'state.redis', { redisHost: REDIS_HOST, keyPrefix: 'shared-prefix' });
    writeComponent(dir, 'e.yaml', 'by-ns', 'state.redis', { redisHost: REDIS_HOST, keyPrefix: 'namespace' });
    writeComponent(dir, 'f.yaml', 'bad-prefix', 'state.redis', { redisHost: REDIS_HOST, keyPrefix: 'a||b' });
    sc = await Sidecar.start({ resourcesPath: dir, appId: 'checkout', env: { NAMESPACE: 'prod' } });
    const [host, port] = REDIS_HOST.split(':');
    redis = new Redis({ host, port: Number(port) });
  });
  after(async () => {
    redis?.disconnect();
    await sc?.stop();
  });

  const cases: Array<[string, (k: string) => string]> = [
    ['by-appid', (k) => `checkout||${k}`],
    ['by-name', (k) => `by-name||${k}`],
    ['no-prefix', (k) => k],
    ['literal', (k) => `shared-prefix||${k}`],
    ['by-ns', (k) => `prod.checkout||${k}`],
  ];
  for (const [store, stored] of cases) {
    it(`${store}: stored as ${stored('<key>')}, read back under the client's key`, async () => {
      const key = randomUUID();
      assert.equal((await sc.json('POST', `/v1.0/state/${store}`, [{ key, value: store }])).status, 204);
      assert.equal(await redis.hget(stored(key), 'data'), JSON.stringify(store));
      const bulk = await sc.json('POST', `/v1.0/state/${store}/bulk`, { keys: [key] });
      assert.deepEqual(bulk.body, [{ key, data: store, etag: '1' }]);
      await redis.del(stored(key));
    });
  }

  it('a keyPrefix containing || is refused at load', async () => {
    const line = await sc.waitForLog((l) => l.includes('f.yaml') && l.includes("'keyPrefix' can't contain '||'"));
    assert.match(line, /refused/);
  });
});
