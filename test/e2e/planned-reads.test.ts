/**
 * Planned reads (`mortar:component/read-plan`): state.redis plans its reads, the sandbox worker sends them to
 * Redis itself and the component decodes the replies. Checked on a real sidecar and a private redis-server:
 * the reads really take that path, they answer exactly as `get`/`bulk-get` would, overlapping batches
 * never mix their replies, and a server that lost its scripts is read through `bulk-get` instead.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { PrivateBroker } from '../helpers/private-broker.js';
import { waitUntil } from '../helpers/wait.js';

describe('planned reads (state.redis)', () => {
  let broker: PrivateBroker;
  let sc: Sidecar;
  let redis: Redis;

  before(async () => {
    broker = await PrivateBroker.start('redis');
    const [host, port] = broker.address.split(':');
    redis = new Redis({ host, port: Number(port) });
    redis.on('error', () => {
      /* the server is restarted on purpose below */
    });
    const dir = tempDir('planned');
    writeComponent(dir, 'cache.yaml', 'cache', 'state.redis', { redisHost: broker.address });
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
    redis?.disconnect();
    await broker?.stop();
  });

  it("serves GET and bulk GET from the worker's own connection, with the values, ETags and TTLs written", async () => {
    assert.equal(
      (
        await sc.json('POST', '/v1.0/state/cache', [
          { key: 'a', value: { n: 1 } },
          { key: 'b', value: 'two', metadata: { ttlInSeconds: '100' } },
        ])
      ).status,
      204,
    );

    const a = await sc.fetch('/v1.0/state/cache/a');
    assert.equal(a.status, 200);
    assert.deepEqual(await a.json(), { n: 1 });
    assert.equal(a.headers.get('etag'), '1');
    assert.equal(a.headers.get('metadata.ttlExpireTime'), null);

    const b = await sc.fetch('/v1.0/state/cache/b');
    assert.equal(await b.text(), '"two"');
    const expires = Date.parse(b.headers.get('metadata.ttlExpireTime') ?? '');
    assert.ok(expires > Date.now() + 90_000 && expires <= Date.now() + 101_000, `ttlExpireTime ${b.headers.get('metadata.ttlExpireTime')}`);

    assert.equal((await sc.fetch('/v1.0/state/cache/missing')).status, 204);

    const bulk = await sc.json('POST', '/v1.0/state/cache/bulk', { keys: ['a', 'missing', 'b'] });
    assert.equal(bulk.status, 200);
    assert.deepEqual(
      (bulk.body as Array<{ key: string; data?: unknown; etag?: string }>).map(({ key, data, etag }) => ({ key, data, etag })),
      [
        { key: 'a', data: { n: 1 }, etag: '1' },
        { key: 'missing', data: undefined, etag: undefined },
        { key: 'b', data: 'two', etag: '1' },
      ],
    );

    // The reads went out on the worker's connection, not through the capability thread's.
    const clients = String(await redis.call('CLIENT', 'LIST'));
    assert.match(clients, /name=mortar-planned-io /);
  });

  it('keeps every reply with its own request while batches overlap', async () => {
    const n = 400;
    const items = Array.from({ length: n }, (_, i) => ({ key: `many-${i}`, value: { i, pad: 'x'.repeat(i % 50) } }));
    assert.equal((await sc.json('POST', '/v1.0/state/cache', items)).status, 204);
    // Several rounds of every read at once: the sidecar groups them into batches, two in flight at a time.
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(
        items.map(async ({ key }) => {
          const r = await sc.fetch(`/v1.0/state/cache/${key}`);
          return { status: r.status, body: (await r.json()) as { i: number; pad: string } };
        }),
      );
      got.forEach((g, i) => {
        assert.equal(g.status, 200);
        assert.deepEqual(g.body, items[i]!.value);
      });
    }
  });

  it('reads through bulk-get when the server lost its scripts, and plans again after', async () => {
    assert.equal((await sc.json('POST', '/v1.0/state/cache', [{ key: 'c', value: 'three' }])).status, 204);
    assert.equal(await redis.script('FLUSH'), 'OK');
    const r = await sc.fetch('/v1.0/state/cache/c');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '"three"');
    // bulk-get reloaded the script, so the planned reads that follow find it again.
    const again = await sc.json('POST', '/v1.0/state/cache/bulk', { keys: ['c', 'a'] });
    assert.deepEqual(
      (again.body as Array<{ data: unknown }>).map((x) => x.data),
      ['three', { n: 1 }],
    );
  });

  it('answers 500 ERR_STATE_GET while Redis is down, and reads again once it is back', async () => {
    const restarted = broker.restart(3000);
    await new Promise((res) => setTimeout(res, 300));
    const t0 = Date.now();
    const down = await sc.json('GET', '/v1.0/state/cache/a');
    assert.equal(down.status, 500);
    assert.equal((down.body as { errorCode: string }).errorCode, 'ERR_STATE_GET');
    assert.ok(Date.now() - t0 < 2500, `failed within ${Date.now() - t0} ms`);
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
    await restarted;
    await waitUntil(async () => (await sc.json('POST', '/v1.0/state/cache', [{ key: 'd', value: 'back' }])).status === 204, 'a save once Redis is back');
    assert.equal(await (await sc.fetch('/v1.0/state/cache/d')).text(), '"back"');
  });
});
