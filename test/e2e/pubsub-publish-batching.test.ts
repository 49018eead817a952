/**
 * Concurrent publishes to a broker with a native bulk publish are coalesced into `bulk-publish` calls
 * (`PublishBatcher`); each publish must still get its own outcome. Checked on Redis, where a topic whose
 * key holds a string makes XADD fail with WRONGTYPE for that entry alone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';

describe('publish coalescing (pubsub.redis)', () => {
  const run = randomUUID().slice(0, 8);
  const good = `coalesce-good-${run}`;
  const bad = `coalesce-bad-${run}`;
  let sc: Sidecar;
  let redis: Redis;

  before(async () => {
    const [host, port] = REDIS_HOST.split(':');
    redis = new Redis({ host, port: Number(port) });
    await redis.set(bad, 'not a stream');
    const dir = tempDir('coalesce');
    writeComponent(dir, 'broker.yaml', 'broker', 'pubsub.redis', { redisHost: REDIS_HOST });
    sc = await Sidecar.start({ resourcesPath: dir, appId: `coalesce-${run}` });
  });
  after(async () => {
    await redis?.del(good, bad);
    redis?.disconnect();
    await sc?.stop();
  });

  it('200 concurrent publishes, every 4th to a topic the broker refuses: only those fail, each with its own error; the rest are stored once each', async () => {
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const topic = i % 4 === 3 ? bad : good;
        const r = await sc.json('POST', `/v1.0/publish/broker/${topic}`, { i });
        return { i, topic, ...r };
      }),
    );
    for (const r of results) {
      if (r.topic === good) {
        assert.equal(r.status, 204, `publish ${r.i}: ${r.text}`);
      } else {
        assert.equal(r.status, 500, `publish ${r.i}`);
        const body = r.body as { errorCode: string; message: string };
        assert.equal(body.errorCode, 'ERR_PUBSUB_PUBLISH_MESSAGE');
        assert.match(body.message, new RegExp(`topic ${bad}`));
        assert.match(body.message, /WRONGTYPE/);
      }
    }
    const entries = await redis.xrange(good, '-', '+');
    const seen = entries.map(([, fields]) => (JSON.parse(fields[1]!) as { data: { i: number } }).data.i).sort((a, b) => a - b);
    assert.deepEqual(
      seen,
      results.filter((r) => r.topic === good).map((r) => r.i),
    );
    assert.equal(await redis.type(bad), 'string', 'the refused topic was left alone');
  });

  it('publishes from one client, one after another, are stored in order', async () => {
    const topic = `${good}-seq`;
    try {
      for (let i = 0; i < 30; i++) assert.equal((await sc.json('POST', `/v1.0/publish/broker/${topic}`, { i })).status, 204);
      const entries = await redis.xrange(topic, '-', '+');
      assert.deepEqual(
        entries.map(([, f]) => (JSON.parse(f[1]!) as { data: { i: number } }).data.i),
        Array.from({ length: 30 }, (_, i) => i),
      );
    } finally {
      await redis.del(topic);
    }
  });
});
