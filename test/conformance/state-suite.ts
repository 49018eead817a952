/**
 * The state conformance suite (Dapr components-contrib `tests/conformance/state`, restated against the
 * Dapr HTTP API of a running sidecar). `stateConformance(sidecar, store, features)` runs every check the
 * store's declared features call for.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Sidecar } from '../helpers/sidecar.js';

export interface StoreUnderTest {
  readonly name: string;
  readonly type: string;
  readonly features: readonly string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function stateConformance(sidecar: () => Sidecar, store: StoreUnderTest): void {
  const run = randomUUID().slice(0, 8);
  const k = (s: string) => `${run}-${s}`;
  const base = `/v1.0/state/${store.name}`;
  const save = (items: unknown, q = '') => sidecar().json('POST', `${base}${q}`, items);
  const get = async (key: string, q = '') => {
    const r = await sidecar().fetch(`${base}/${encodeURIComponent(key)}${q}`);
    const text = await r.text();
    return { status: r.status, etag: r.headers.get('etag') ?? undefined, headers: r.headers, value: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  const del = (key: string, etag?: string) =>
    sidecar().fetch(`${base}/${encodeURIComponent(key)}`, { method: 'DELETE', headers: etag === undefined ? {} : { 'if-match': etag } });
  const bulk = (keys: string[], metadata?: Record<string, string>) => sidecar().json('POST', `${base}/bulk`, { keys, parallelism: 10, metadata });
  const tx = (operations: unknown[]) => sidecar().json('POST', `${base}/transaction`, { operations });
  const has = (f: string) => store.features.includes(f);

  describe(`state conformance: ${store.name} (${store.type})`, () => {
    it('matches interface: the metadata API lists the store with its declared capabilities', async () => {
      const md = await sidecar().json('GET', '/v1.0/metadata');
      const c = (md.body as { components: Array<{ name: string; type: string; capabilities: string[] }> }).components.find((x) => x.name === store.name);
      assert.ok(c, `${store.name} listed`);
      assert.equal(c.type, store.type);
      for (const f of store.features) assert.ok(c.capabilities.includes(f), `declares ${f}`);
      if (!has('TTL')) assert.ok(!c.capabilities.includes('TTL'));
    });

    it('set and get round-trip every scenario value', async () => {
      const scenarios: Array<[string, unknown]> = [
        ['int', 123],
        ['bool', true],
        ['json-string', '{"a":"b"}'],
        ['string', 'hello world'],
        ['empty', ''],
        ['struct', { product: { value: 15 }, status: 'ok', message: 'nested' }],
        ['array', [1, 'two', { three: 3 }]],
        ['null', null],
        ['unicode', 'zaż\u00f3łć gęślą jaźń 🚀'],
      ];
      assert.equal((await save(scenarios.map(([key, value]) => ({ key: k(key), value, metadata: { contentType: 'application/json' } })))).status, 204);
      for (const [key, value] of scenarios) {
        const r = await get(k(key));
        assert.equal(r.status, 200, key);
        assert.deepEqual(r.value, value, key);
        if (has('ETAG')) assert.ok(r.etag, `${key} has an ETag`);
      }
    });

    it('a string is stored JSON-encoded, with its quotes', async () => {
      await save([{ key: k('quoted'), value: 'value-1' }]);
      const r = await sidecar().fetch(`${base}/${k('quoted')}`);
      assert.equal(await r.text(), '"value-1"');
      assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    });

    it('a missing key gives 204 with an empty body', async () => {
      const r = await sidecar().fetch(`${base}/${k('never-set')}`);
      assert.equal(r.status, 204);
      assert.equal(await r.text(), '');
    });

    it('delete removes keys, and deleting keys never set succeeds', async () => {
      await save([{ key: k('to-be-deleted'), value: 'x' }]);
      assert.equal((await del(k('to-be-deleted'))).status, 204);
      assert.equal((await get(k('to-be-deleted'))).status, 204);
      assert.equal((await del(k('never-existed'))).status, 204);
    });

    it('bulk set then bulk get: one entry per key, a missing key comes back as {key} only', async () => {
      const keys = ['b1', 'b2', 'b3'].map(k);
      assert.equal((await save(keys.map((key, i) => ({ key, value: { i } })))).status, 204);
      const r = await bulk([...keys, k('b-missing')]);
      assert.equal(r.status, 200);
      const items = r.body as Array<{ key: string; data?: unknown; etag?: string }>;
      assert.equal(items.length, 4);
      keys.forEach((key, i) => {
        assert.equal(items[i]!.key, key);
        assert.deepEqual(items[i]!.data, { i });
        if (has('ETAG')) assert.ok(items[i]!.etag);
      });
      assert.deepEqual(items[3], { key: k('b-missing') });
      assert.deepEqual((await bulk([])).body, []);
    });

    it('empty save and empty transaction are 204', async () => {
      assert.equal((await save([])).status, 204);
      if (has('TRANSACTIONAL')) assert.equal((await tx([])).status, 204);
    });

    if (has('TRANSACTIONAL')) {
      it('transaction: grouped upserts and deletes apply in order', async () => {
        const r1 = await tx([1, 2, 3].map((i) => ({ operation: 'upsert', request: { key: k(`t${i}`), value: `v${i}` } })));
        assert.equal(r1.status, 204);
        for (const i of [1, 2, 3]) assert.equal((await get(k(`t${i}`))).value, `v${i}`);
        const r2 = await tx([
          { operation: 'delete', request: { key: k('t1') } },
          { operation: 'upsert', request: { key: k('t4'), value: 'v4' } },
          { operation: 'delete', request: { key: k('t-never') } },
        ]);
        assert.equal(r2.status, 204);
        assert.equal((await get(k('t1'))).status, 204);
        assert.equal((await get(k('t4'))).value, 'v4');
      });

      it('transaction-order: [delete k1, upsert k2, delete k2, upsert k3]', async () => {
        await save([{ key: k('o1'), value: 'value1' }]);
        const r = await tx([
          { operation: 'delete', request: { key: k('o1') } },
          { operation: 'upsert', request: { key: k('o2'), value: 'value2' } },
          { operation: 'delete', request: { key: k('o2') } },
          { operation: 'upsert', request: { key: k('o3'), value: 'value3' } },
        ]);
        assert.equal(r.status, 204);
        assert.equal((await get(k('o1'))).status, 204);
        assert.equal((await get(k('o2'))).status, 204);
        const o3 = await sidecar().fetch(`${base}/${k('o3')}`);
        assert.equal(await o3.text(), '"value3"');
      });

      if (has('ETAG')) {
        it('transaction is atomic: a failed ETag changes nothing (500 ERR_STATE_TRANSACTION)', async () => {
          await save([{ key: k('a1'), value: 'before' }]);
          const stale = await staleEtag(k('a1'));
          const before = await get(k('a1'));
          const r = await tx([
            { operation: 'upsert', request: { key: k('a2'), value: 'new' } },
            { operation: 'upsert', request: { key: k('a1'), value: 'after', etag: stale } },
          ]);
          assert.equal(r.status, 500);
          assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_STATE_TRANSACTION');
          assert.equal((await get(k('a2'))).status, 204, 'first upsert rolled back');
          const after = await get(k('a1'));
          assert.equal(after.value, 'before');
          assert.equal(after.etag, before.etag);
        });
      }
    }

    it('transaction with an unknown operation is 400 ERR_NOT_SUPPORTED_STATE_OPERATION', async () => {
      const r = await tx([{ operation: 'merge', request: { key: k('x'), value: 1 } }]);
      if (!has('TRANSACTIONAL')) return;
      assert.equal(r.status, 400);
      assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_NOT_SUPPORTED_STATE_OPERATION');
    });

    /** Writes `key` twice and returns the first ETag: of the store's own form, and no longer current. */
    async function staleEtag(key: string): Promise<string> {
      const value = (await get(key)).value ?? 'stale';
      await save([{ key, value }]);
      const { etag } = await get(key);
      await save([{ key, value }]);
      return etag!;
    }

    if (has('ETAG')) {
      it('etag: get returns one; a wrong ETag is 409 ERR_STATE_SAVE; the right one succeeds and changes it', async () => {
        await save([{ key: k('e1'), value: 'v1' }]);
        const stale = await staleEtag(k('e1'));
        const first = await get(k('e1'));
        assert.ok(first.etag);
        const bad = await save([{ key: k('e1'), value: 'v2', etag: stale }]);
        assert.equal(bad.status, 409);
        assert.equal((bad.body as { errorCode: string }).errorCode, 'ERR_STATE_SAVE');
        assert.equal((await get(k('e1'))).value, 'v1');
        const good = await save([{ key: k('e1'), value: 'v3', etag: first.etag }]);
        assert.equal(good.status, 204);
        const after = await get(k('e1'));
        assert.equal(after.value, 'v3');
        assert.notEqual(after.etag, first.etag);
      });

      it("etag: an ETag not of the store's form is 400 ERR_STATE_SAVE", async () => {
        await save([{ key: k('ei'), value: 'v' }]);
        const r = await save([{ key: k('ei'), value: 'v2', etag: 'not-an-etag!' }]);
        assert.equal(r.status, 400);
        assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_STATE_SAVE');
      });

      it('etag: bulk set with one bad and one good ETag updates the good key only (409)', async () => {
        await save([
          { key: k('p1'), value: 'a' },
          { key: k('p2'), value: 'b' },
        ]);
        const stale = await staleEtag(k('p1'));
        const e1 = (await get(k('p1'))).etag!;
        const e2 = (await get(k('p2'))).etag!;
        const r = await save([
          { key: k('p1'), value: 'a2', etag: stale },
          { key: k('p2'), value: 'b2', etag: e2 },
        ]);
        assert.equal(r.status, 409);
        assert.match((r.body as { message: string }).message, new RegExp(k('p1')));
        const p1 = await get(k('p1'));
        assert.equal(p1.value, 'a');
        assert.equal(p1.etag, e1);
        assert.equal((await get(k('p2'))).value, 'b2');
        // Both valid: both updated.
        const r2 = await save([
          { key: k('p1'), value: 'a3', etag: e1 },
          { key: k('p2'), value: 'b3', etag: (await get(k('p2'))).etag },
        ]);
        assert.equal(r2.status, 204);
        assert.equal((await get(k('p1'))).value, 'a3');
        assert.equal((await get(k('p2'))).value, 'b3');
      });

      it('etag: delete with a wrong ETag is 409; with the right one the key is gone', async () => {
        await save([{ key: k('d1'), value: 'v' }]);
        const stale = await staleEtag(k('d1'));
        const { etag } = await get(k('d1'));
        const bad = await del(k('d1'), stale);
        assert.equal(bad.status, 409);
        assert.equal(((await bad.json()) as { errorCode: string }).errorCode, 'ERR_STATE_DELETE');
        assert.equal((await get(k('d1'))).value, 'v');
        assert.equal((await del(k('d1'), etag)).status, 204);
        const gone = await get(k('d1'));
        assert.equal(gone.status, 204);
        assert.equal(gone.etag, undefined);
        // An empty If-Match means "no ETag".
        await save([{ key: k('d2'), value: 'v' }]);
        assert.equal((await del(k('d2'), '')).status, 204);
      });

      it('first-write without ETag: the first write succeeds, the second fails (also with ETag "")', async () => {
        for (const etag of [undefined, '']) {
          const key = k(`fw-${etag === undefined ? 'none' : 'empty'}`);
          const opts = { concurrency: 'first-write', consistency: 'strong' };
          assert.equal((await save([{ key, value: 'first', etag, options: opts }])).status, 204);
          const again = await save([{ key, value: 'second', etag, options: opts }]);
          assert.equal(again.status, 409);
          assert.equal((await get(key)).value, 'first');
        }
      });

      it('first-write with ETag: the current ETag succeeds and changes; reusing the old one fails', async () => {
        const key = k('fw-etag');
        const opts = { concurrency: 'first-write' };
        await save([{ key, value: 'v1' }]);
        const e1 = (await get(key)).etag!;
        assert.equal((await save([{ key, value: 'v2', etag: e1, options: opts }])).status, 204);
        const e2 = (await get(key)).etag!;
        assert.notEqual(e2, e1);
        assert.equal((await save([{ key, value: 'v3', etag: e1, options: opts }])).status, 409);
        assert.equal((await get(key)).value, 'v2');
      });
    }

    if (has('TTL')) {
      it('ttl: a non-integer ttlInSeconds is an error', async () => {
        const r = await save([{ key: k('ttl-bad'), value: 1, metadata: { ttlInSeconds: 'foo' } }]);
        assert.ok(r.status >= 400, `status ${r.status}`);
        assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_STATE_SAVE');
        assert.equal((await get(k('ttl-bad'))).status, 204);
      });

      it('ttl: ttlInSeconds 2 is readable at once and gone within 3 s', async () => {
        await save([{ key: k('ttl2'), value: 'short' }], '?metadata.ttlInSeconds=2');
        assert.equal((await get(k('ttl2'))).value, 'short');
        const deadline = Date.now() + 3500;
        let gone = false;
        while (Date.now() < deadline) {
          if ((await get(k('ttl2'))).status === 204) {
            gone = true;
            break;
          }
          await sleep(200);
        }
        assert.ok(gone, 'expired within 3 s');
      });

      it('ttl: no TTL means no ttlExpireTime; 3600 gives RFC 3339 ≈ now+1h; -1 and a plain save remove it; bulk get reports it', async () => {
        await save([{ key: k('ttl-none'), value: 1 }]);
        assert.equal((await get(k('ttl-none'))).headers.get('metadata.ttlexpiretime'), null);
        await save([{ key: k('ttl-h'), value: 1, metadata: { ttlInSeconds: '3600' } }]);
        const h = (await get(k('ttl-h'))).headers.get('metadata.ttlexpiretime');
        assert.ok(h, 'ttlExpireTime present');
        assert.match(h, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.ok(Math.abs(Date.parse(h) - (Date.now() + 3600_000)) < 600_000);
        const b = await bulk([k('ttl-h')]);
        assert.ok((b.body as Array<{ metadata?: Record<string, string> }>)[0]!.metadata?.ttlExpireTime);
        await save([{ key: k('ttl-h'), value: 2, metadata: { ttlInSeconds: '-1' } }]);
        assert.equal((await get(k('ttl-h'))).headers.get('metadata.ttlexpiretime'), null);
        await save([{ key: k('ttl-h'), value: 3, metadata: { ttlInSeconds: '3600' } }]);
        await save([{ key: k('ttl-h'), value: 4 }]);
        assert.equal((await get(k('ttl-h'))).headers.get('metadata.ttlexpiretime'), null);
      });
    }

    it('options: an unknown concurrency or consistency is 400', async () => {
      const r = await save([{ key: k('opt'), value: 1, options: { concurrency: 'sometimes' } }]);
      assert.equal(r.status, 400);
      const r2 = await sidecar().fetch(`${base}/${k('opt')}?consistency=maybe`);
      assert.equal(r2.status, 400);
    });

    it('query: a store without QUERY_API answers 500 ERR_STATE_STORE_NOT_SUPPORTED (DAPR_STATE_QUERYING_NOT_SUPPORTED)', async () => {
      assert.ok(!has('QUERY_API'));
      const r = await sidecar().json('POST', `/v1.0-alpha1/state/${store.name}/query`, { filter: { EQ: { a: 1 } } });
      assert.equal(r.status, 500);
      const body = r.body as { errorCode: string; details: Array<{ reason?: string }> };
      assert.equal(body.errorCode, 'ERR_STATE_STORE_NOT_SUPPORTED');
      assert.ok(body.details.some((d) => d.reason === 'DAPR_STATE_QUERYING_NOT_SUPPORTED'));
    });

    it('keys with || are refused with 400 ERR_MALFORMED_REQUEST and standard details', async () => {
      const r = await save([{ key: 'a||b', value: 1 }]);
      assert.equal(r.status, 400);
      const body = r.body as { errorCode: string; message: string; details: Array<Record<string, unknown>> };
      assert.equal(body.errorCode, 'ERR_MALFORMED_REQUEST');
      assert.equal(body.message, "input key/keyPrefix 'a||b' can't contain '||'");
      assert.equal(body.details[0]!.reason, 'DAPR_STATE_ILLEGAL_KEY');
      assert.ok(body.details.some((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest'));
    });
  });
}
