/**
 * Caller mistakes are refused up front with 400 in Dapr's error format, before any component sees them:
 * TTLs (`metadata.ttlInSeconds`), keys (NUL, length), ETags that are not strings, deeply nested JSON, bad
 * URL escapes, oversized paths and headers. And a built-in store never traps on an expiry it reads back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { PG_URL, REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';

const STORES = ['mem', 'lite', 'redis', 'pg'] as const;
const TABLE = `inp_${randomUUID().slice(0, 8)}`;
/** The last second an expiry may fall in: 9999-12-31T23:59:59Z. */
const MAX_EXPIRY_MS = Date.UTC(9999, 11, 31, 23, 59, 59);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

type Body = { errorCode?: string; message?: string };

describe('request validation: caller mistakes are 400s in Dapr format', () => {
  let sc: Sidecar;
  let redis: Redis;
  let db: pg.Client;
  before(async () => {
    const dir = tempDir('validation');
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    writeComponent(dir, 'lite.yaml', 'lite', 'state.sqlite', { connectionString: 'validation.db' });
    writeComponent(dir, 'redis.yaml', 'redis', 'state.redis', { redisHost: REDIS_HOST });
    writeComponent(dir, 'pg.yaml', 'pg', 'state.postgresql', { connectionString: PG_URL, tableName: TABLE });
    writeComponent(dir, 'ps.yaml', 'ps', 'pubsub.in-memory');
    sc = await Sidecar.start({ resourcesPath: dir });
    const [host, port] = REDIS_HOST.split(':');
    redis = new Redis({ host, port: Number(port) });
    db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
  });
  after(async () => {
    redis?.disconnect();
    await db?.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
    await db?.end();
    await sc?.stop();
  });

  const save = (store: string, items: unknown, qs = '') => sc.json('POST', `/v1.0/state/${store}${qs}`, items);
  const key = () => `v-${randomUUID()}`;

  describe('ttlInSeconds is checked by the host, once, for every store', () => {
    const bad = ['9000000000000', String(Math.ceil((MAX_EXPIRY_MS - Date.now()) / 1000) + 86_400), 'abc', '1.5', '-5', ' 5', '1e3'];
    for (const store of STORES) {
      it(`${store}: save, bulk save, query metadata and transaction with ttlInSeconds ${bad.join(' | ')} are 400 naming the field, and nothing is written`, async () => {
        for (const ttl of bad) {
          const k = key();
          const one = await save(store, [{ key: k, value: 1, metadata: { ttlInSeconds: ttl } }]);
          assert.equal(one.status, 400, `${ttl}: ${one.text}`);
          assert.equal((one.body as Body).errorCode, 'ERR_STATE_SAVE');
          assert.match((one.body as Body).message!, /ttlInSeconds/);
          const many = await save(store, [
            { key: `${k}-a`, value: 1 },
            { key: k, value: 1, metadata: { ttlInSeconds: ttl } },
          ]);
          assert.equal(many.status, 400, `${ttl} (bulk): ${many.text}`);
          const query = await save(store, [{ key: k, value: 1 }], `?metadata.ttlInSeconds=${encodeURIComponent(ttl)}`);
          assert.equal(query.status, 400, `${ttl} (query): ${query.text}`);
          const tx = await sc.json('POST', `/v1.0/state/${store}/transaction`, {
            operations: [{ operation: 'upsert', request: { key: k, value: 1, metadata: { ttlInSeconds: ttl } } }],
          });
          assert.equal(tx.status, 400, `${ttl} (transaction): ${tx.text}`);
          assert.equal((tx.body as Body).errorCode, 'ERR_STATE_TRANSACTION');
          assert.match((tx.body as Body).message!, /ttlInSeconds/);
          assert.equal((await sc.fetch(`/v1.0/state/${store}/${k}`)).status, 204, `${ttl}: nothing saved`);
          assert.equal((await sc.fetch(`/v1.0/state/${store}/${k}-a`)).status, 204, `${ttl}: no item of the refused bulk save is written`);
        }
      });

      it(`${store}: -1 means no expiry, and the longest TTL allowed reads back with an RFC 3339 ttlExpireTime in year 9999`, async () => {
        const k = key();
        assert.equal((await save(store, [{ key: k, value: 1, metadata: { ttlInSeconds: '-1' } }])).status, 204);
        const none = await sc.fetch(`/v1.0/state/${store}/${k}`);
        assert.equal(none.status, 200);
        assert.equal(none.headers.get('metadata.ttlExpireTime'), null);
        const longest = String(Math.floor((MAX_EXPIRY_MS - Date.now()) / 1000) - 3600);
        assert.equal((await save(store, [{ key: k, value: 2, metadata: { ttlInSeconds: longest } }])).status, 204);
        const r = await sc.fetch(`/v1.0/state/${store}/${k}`);
        assert.equal(r.status, 200);
        const at = r.headers.get('metadata.ttlExpireTime') ?? '';
        assert.match(at, RFC3339);
        assert.ok(at.startsWith('9999-12-31T'), at);
      });
    }

    it('state.in-memory: a refused huge TTL leaves every other key in place', async () => {
      const other = key();
      assert.equal((await save('mem', [{ key: other, value: 'kept' }])).status, 204);
      const p = key();
      assert.equal((await save('mem', [{ key: p, value: 1, metadata: { ttlInSeconds: '9000000000000' } }])).status, 400);
      assert.equal((await sc.fetch(`/v1.0/state/mem/${p}`)).status, 204);
      const r = await sc.fetch(`/v1.0/state/mem/${other}`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), '"kept"');
    });

    it('publish and bulk publish: ttlInSeconds past year 9999 or not a number of seconds is 400 ERR_PUBSUB_REQUEST_METADATA naming the field', async () => {
      for (const ttl of ['9000000000000', 'abc', '1.5', '-5']) {
        const r = await sc.json('POST', `/v1.0/publish/ps/t-${randomUUID()}?metadata.ttlInSeconds=${ttl}`, { a: 1 });
        assert.equal(r.status, 400, `${ttl}: ${r.text}`);
        assert.equal((r.body as Body).errorCode, 'ERR_PUBSUB_REQUEST_METADATA');
        assert.match((r.body as Body).message!, /ttlInSeconds/);
        const b = await sc.json('POST', `/v1.0-alpha1/publish/bulk/ps/t-${randomUUID()}`, [
          { entryId: '1', event: 'x', contentType: 'text/plain', metadata: { ttlInSeconds: ttl } },
        ]);
        assert.equal(b.status, 400, `${ttl} (bulk): ${b.text}`);
        assert.match((b.body as Body).message!, /ttlInSeconds/);
      }
      assert.equal((await sc.json('POST', `/v1.0/publish/ps/t-${randomUUID()}?metadata.ttlInSeconds=60`, { a: 1 })).status, 204);
      assert.equal((await sc.json('POST', `/v1.0/publish/ps/t-${randomUUID()}?metadata.ttlInSeconds=-1`, { a: 1 })).status, 204);
    });
  });

  describe('a store never traps on an expiry it reads back', () => {
    it('state.redis: a key whose stored expiry lies past year 275760 reads back with ttlExpireTime clamped to 9999-12-31T23:59:59Z', async () => {
      const k = key();
      await redis.hset(`orders||${k}`, 'data', '"far"', 'version', '1');
      await redis.pexpire(`orders||${k}`, 9_000_000_000_000_000);
      try {
        for (let i = 0; i < 3; i++) {
          const r = await sc.fetch(`/v1.0/state/redis/${k}`);
          assert.equal(r.status, 200, await r.clone().text());
          assert.equal(await r.text(), '"far"');
          assert.equal(r.headers.get('metadata.ttlExpireTime'), '9999-12-31T23:59:59Z');
        }
        const bulk = await sc.json('POST', '/v1.0/state/redis/bulk', { keys: [k] });
        assert.deepEqual(bulk.body, [{ key: k, data: 'far', etag: '1', metadata: { ttlExpireTime: '9999-12-31T23:59:59Z' } }]);
      } finally {
        await redis.del(`orders||${k}`);
      }
    });

    it('state.postgresql: a row whose expires_at lies past year 275760 reads back with ttlExpireTime clamped to 9999-12-31T23:59:59Z', async () => {
      const k = key();
      await db.query(`INSERT INTO ${TABLE} (key, value, etag, expires_at) VALUES ($1, $2, $3, $4)`, [
        `orders||${k}`,
        Buffer.from('"far"'),
        'a'.repeat(32),
        '9000000000000000',
      ]);
      for (let i = 0; i < 3; i++) {
        const r = await sc.fetch(`/v1.0/state/pg/${k}`);
        assert.equal(r.status, 200, await r.clone().text());
        assert.equal(await r.text(), '"far"');
        assert.equal(r.headers.get('metadata.ttlExpireTime'), '9999-12-31T23:59:59Z');
      }
    });
  });

  describe('keys: one rule for every route', () => {
    for (const store of ['mem', 'pg'] as const) {
      it(`${store}: a key of 4096 bytes is saved, read and deleted; one of 4097 bytes or of 16K characters is 400 on save, get, bulk get, transaction and delete`, async () => {
        const prefix = randomUUID();
        const ok = [prefix + 'a'.repeat(4096 - prefix.length), prefix + '€'.repeat(Math.floor((4096 - prefix.length) / 3))];
        for (const k of ok) {
          assert.equal((await save(store, [{ key: k, value: 'long' }])).status, 204);
          const r = await sc.fetch(`/v1.0/state/${store}/${encodeURIComponent(k)}`);
          assert.equal(r.status, 200, await r.clone().text());
          assert.equal(await r.text(), '"long"');
          assert.equal((await sc.fetch(`/v1.0/state/${store}/${encodeURIComponent(k)}`, { method: 'DELETE' })).status, 204);
          assert.equal((await sc.fetch(`/v1.0/state/${store}/${encodeURIComponent(k)}`)).status, 204);
        }
        for (const k of [prefix + 'a'.repeat(4097 - prefix.length), prefix + 'é'.repeat(2100), 'k'.repeat(16_000)]) {
          const s = await save(store, [{ key: k, value: 1 }]);
          assert.equal(s.status, 400, `save ${k.length}: ${s.text}`);
          assert.equal((s.body as Body).errorCode, 'ERR_MALFORMED_REQUEST');
          assert.match((s.body as Body).message!, /4096 bytes/);
          const tx = await sc.json('POST', `/v1.0/state/${store}/transaction`, { operations: [{ operation: 'upsert', request: { key: k, value: 1 } }] });
          assert.equal(tx.status, 400);
          const bulk = await sc.json('POST', `/v1.0/state/${store}/bulk`, { keys: [k] });
          assert.equal(bulk.status, 400);
          if (k.length < 5000) {
            const g = await sc.json('GET', `/v1.0/state/${store}/${encodeURIComponent(k)}`);
            assert.equal(g.status, 400, `get ${k.length}: ${g.text}`);
            assert.equal((g.body as Body).errorCode, 'ERR_MALFORMED_REQUEST');
            assert.equal((await sc.json('DELETE', `/v1.0/state/${store}/${encodeURIComponent(k)}`)).status, 400);
          }
        }
      });
    }

    it('a key containing NUL is 400 on every route of state.postgresql, and good keys are unaffected', async () => {
      const k = `${randomUUID()}\u0000x`;
      const s = await save('pg', [{ key: k, value: 1 }]);
      assert.equal(s.status, 400, s.text);
      assert.equal((s.body as Body).errorCode, 'ERR_MALFORMED_REQUEST');
      assert.match((s.body as Body).message!, /NUL/);
      assert.equal((await sc.json('GET', `/v1.0/state/pg/${encodeURIComponent(k)}`)).status, 400);
      assert.equal((await sc.json('DELETE', `/v1.0/state/pg/${encodeURIComponent(k)}`)).status, 400);
      assert.equal((await sc.json('POST', '/v1.0/state/pg/bulk', { keys: [k] })).status, 400);
      assert.equal((await sc.json('POST', '/v1.0/state/pg/transaction', { operations: [{ operation: 'delete', request: { key: k } }] })).status, 400);
      const good = key();
      assert.equal((await save('pg', [{ key: good, value: 1 }])).status, 204);
      assert.equal((await sc.fetch(`/v1.0/state/pg/${good}`)).status, 200);
    });
  });

  describe('bodies', () => {
    it('an etag that is not a string is 400 ERR_MALFORMED_REQUEST on save and in a transaction', async () => {
      for (const etag of [5, true, { a: 1 }, ['1']]) {
        const s = await save('redis', [{ key: key(), value: 1, etag }]);
        assert.equal(s.status, 400, `${JSON.stringify(etag)}: ${s.text}`);
        assert.equal((s.body as Body).errorCode, 'ERR_MALFORMED_REQUEST');
        assert.match((s.body as Body).message!, /etag/);
        const tx = await sc.json('POST', '/v1.0/state/redis/transaction', { operations: [{ operation: 'delete', request: { key: key(), etag } }] });
        assert.equal(tx.status, 400, `${JSON.stringify(etag)} (transaction): ${tx.text}`);
        assert.equal((tx.body as Body).errorCode, 'ERR_MALFORMED_REQUEST');
      }
    });

    it('JSON nested deeper than 1000 levels is 400 on save, bulk get, transaction, bulk publish and CloudEvent publish; 1000 levels are accepted', async () => {
      const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
      const deep = nest(5000);
      const cases: Array<[string, string, string]> = [
        ['save', '/v1.0/state/mem', `[{"key":"deep","value":${deep}}]`],
        ['bulk get', '/v1.0/state/mem/bulk', `{"keys":["a"],"metadata":{"x":${deep}}}`],
        ['transaction', '/v1.0/state/mem/transaction', `{"operations":[{"operation":"upsert","request":{"key":"deep","value":${deep}}}]}`],
        ['bulk publish', '/v1.0-alpha1/publish/bulk/ps/deep', `[{"entryId":"1","event":${deep},"contentType":"application/json"}]`],
      ];
      for (const [what, path, body] of cases) {
        const r = await sc.json('POST', path, body);
        assert.equal(r.status, 400, `${what}: ${r.text.slice(0, 200)}`);
        assert.match((r.body as Body).message!, /nested/, what);
      }
      const ce = await sc.json('POST', '/v1.0/publish/ps/deep', `{"id":"1","data":${deep}}`, { 'content-type': 'application/cloudevents+json' });
      assert.equal(ce.status, 400, ce.text.slice(0, 200));
      const shallow = `[{"key":"ok-deep","value":${nest(998)}}]`; // 1000 levels with the outer array and the item
      assert.equal((await sc.json('POST', '/v1.0/state/mem', shallow)).status, 204);
    });
  });

  describe('transport errors in Dapr format', () => {
    it("a bad URL escape is 400 ERR_MALFORMED_REQUEST, not fastify's FST_ERR_BAD_URL", async () => {
      for (const path of ['/v1.0/state/mem/%ff', '/v1.0/state/mem/%zz', '/v1.0/publish/ps/%c3']) {
        const r = await sc.json('GET', path);
        assert.equal(r.status, 400, `${path}: ${r.text}`);
        assert.equal((r.body as Body).errorCode, 'ERR_MALFORMED_REQUEST', r.text);
        assert.equal(typeof (r.body as Body).message, 'string');
        assert.doesNotMatch(r.text, /FST_/);
      }
    });

    it('a path segment longer than any key can be percent-encoded to is 414 in Dapr format', async () => {
      const r = await sc.json('GET', `/v1.0/state/mem/${'a'.repeat(13_000)}`);
      assert.equal(r.status, 414, r.text);
      assert.equal((r.body as Body).errorCode, 'ERR_BAD_REQUEST');
      assert.doesNotMatch(r.text, /FST_/);
    });

    it('headers over the limit are 431 in Dapr format with Connection: close, and the connection ends cleanly (FIN, no reset)', async () => {
      const { status, text, reset } = await new Promise<{ status: number; text: string; reset: boolean }>((resolve, reject) => {
        const s = connect(sc.port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let reset = false;
        s.on('data', (c) => chunks.push(c));
        s.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'ECONNRESET') reset = true;
          else reject(e);
        });
        s.on('close', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          resolve({ status: Number(raw.split(' ')[1]), text: raw, reset });
        });
        s.write(`GET /v1.0/state/mem/k HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(40_000)}\r\n\r\n`);
      });
      assert.equal(status, 431, text);
      assert.match(text, /\r\nconnection: close\r\n/i);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Body;
      assert.equal(body.errorCode, 'ERR_BAD_REQUEST');
      assert.equal(reset, false, 'the server reset the connection instead of closing it');
      // The sidecar still serves.
      assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
    });
  });
});
