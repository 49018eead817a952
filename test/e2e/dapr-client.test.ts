/**
 * The official Dapr JS SDK (`@dapr/dapr` DaprClient over HTTP) against a real `mortar` process:
 * the embedded default store, Redis, metadata and health.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CommunicationProtocolEnum, DaprClient, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';
import { REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';

describe('@dapr/dapr DaprClient against mortar (embedded defaults)', () => {
  let sc: Sidecar;
  let client: DaprClient;
  before(async () => {
    sc = await Sidecar.start();
    client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sc.port), communicationProtocol: CommunicationProtocolEnum.HTTP });
    await client.start();
  });
  after(async () => {
    await client?.stop();
    await sc?.stop();
  });

  it('the default statestore needs no server: save, get, getBulk, delete', async () => {
    const id = randomUUID();
    const r = await client.state.save('statestore', [
      { key: `${id}-1`, value: { n: 1 } },
      { key: `${id}-2`, value: 'two' },
      { key: `${id}-3`, value: 3 },
    ]);
    assert.equal(r.error, undefined);
    assert.deepEqual(await client.state.get('statestore', `${id}-1`), { n: 1 });
    assert.equal(await client.state.get('statestore', `${id}-2`), 'two');
    const bulk = await client.state.getBulk('statestore', [`${id}-1`, `${id}-3`, `${id}-missing`]);
    assert.deepEqual(
      bulk.map((b) => [b.key, b.data]),
      [
        [`${id}-1`, { n: 1 }],
        [`${id}-3`, 3],
        [`${id}-missing`, undefined],
      ],
    );
    await client.state.delete('statestore', `${id}-1`);
    assert.equal(await client.state.get('statestore', `${id}-1`), '');
  });

  it('transaction through the SDK', async () => {
    const id = randomUUID();
    await client.state.save('statestore', [{ key: `${id}-gone`, value: 'x' }]);
    await client.state.transaction('statestore', [
      { operation: 'upsert', request: { key: `${id}-a`, value: 'A' } },
      { operation: 'delete', request: { key: `${id}-gone` } },
    ]);
    assert.equal(await client.state.get('statestore', `${id}-a`), 'A');
    assert.equal(await client.state.get('statestore', `${id}-gone`), '');
  });

  it('ETag first-write through the SDK reports the conflict', async () => {
    const id = randomUUID();
    await client.state.save('statestore', [{ key: id, value: 'v1' }]);
    const r = await client.state.save('statestore', [
      { key: id, value: 'v2', options: { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_STRONG } },
    ]);
    assert.ok(r.error, 'second first-write is refused');
    assert.equal(await client.state.get('statestore', id), 'v1');
  });

  it('metadata and health', async () => {
    const md = await client.metadata.get();
    assert.equal(md.id, 'orders');
    const store = md.components.find((c) => c.name === 'statestore');
    assert.equal(store?.type, 'state.sqlite');
    assert.ok(store?.capabilities?.includes('ETAG') && store.capabilities.includes('TRANSACTIONAL') && store.capabilities.includes('ACTOR'));
    await client.metadata.set('team', 'payments');
    const md2 = await sc.json('GET', '/v1.0/metadata');
    assert.equal((md2.body as { extended: Record<string, string> }).extended.team, 'payments');
    assert.equal(await client.health.isHealthy(), true);
  });
});

describe('@dapr/dapr DaprClient against mortar (state.redis, API token)', () => {
  let sc: Sidecar;
  const token = randomUUID();
  before(async () => {
    const dir = tempDir('e2e-redis');
    writeComponent(dir, 'redis.yaml', 'redis-store', 'state.redis', { redisHost: REDIS_HOST, keyPrefix: 'name' });
    sc = await Sidecar.start({ resourcesPath: dir, env: { DAPR_API_TOKEN: token } });
  });
  after(async () => {
    await sc?.stop();
  });

  it('requests without the token get 401 "invalid api token"; health checks are exempt', async () => {
    const r = await sc.fetch('/v1.0/state/redis-store/x');
    assert.equal(r.status, 401);
    assert.equal(await r.text(), 'invalid api token');
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
    assert.equal((await sc.fetch('/v1.0/healthz/outbound')).status, 204);
  });

  it('the SDK with the token saves and reads through Redis; the key is prefixed with the store name', async () => {
    const client = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(sc.port),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      daprApiToken: token,
    });
    await client.start();
    try {
      const key = randomUUID();
      await client.state.save('redis-store', [{ key, value: { hello: 'redis' }, metadata: { ttlInSeconds: '60' } } as never]);
      assert.deepEqual(await client.state.get('redis-store', key), { hello: 'redis' });
      const { Redis } = await import('ioredis');
      const [host, port] = REDIS_HOST.split(':');
      const redis = new Redis({ host, port: Number(port) });
      try {
        assert.equal(await redis.hget(`redis-store||${key}`, 'data'), '{"hello":"redis"}');
        const ttl = await redis.ttl(`redis-store||${key}`);
        assert.ok(ttl > 50 && ttl <= 60, `ttl ${ttl}`);
      } finally {
        redis.disconnect();
      }
    } finally {
      await client.stop();
    }
  });
});
