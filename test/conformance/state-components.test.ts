/**
 * The state-store WIT contract, called directly on each built-in Wasm component (no HTTP in between):
 * the parts of Dapr's conformance suite the HTTP API does not reach (bulk delete with partial failure,
 * per-key errors of bulk set, the descriptor), and the key listing Wasm workloads use (no Dapr API has it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { TranspileCache } from '../../host/src/components/transpile-cache.js';
import { ComponentLoader, type ComponentModule } from '../../host/src/components/component-types.js';
import { ComponentRegistry } from '../../host/src/components/registry.js';
import { CapabilityThread } from '../../host/src/capabilities/capability-thread.js';
import { ComponentCallError } from '../../host/src/components/sandbox/pool.js';
import { BUILTIN_COMPONENTS, PG_URL, REDIS_HOST, tempDir } from '../helpers/sidecar.js';

const logger = pino({ level: 'silent' });
const enc = (v: unknown) => new Uint8Array(Buffer.from(JSON.stringify(v)));
const setReq = (key: string, value: unknown, etag?: string) => ({
  key,
  value: enc(value),
  etag,
  concurrency: 'last-write',
  consistency: 'strong',
  metadata: [],
});
const delReq = (key: string, etag?: string) => ({ key, etag, concurrency: 'last-write', consistency: 'strong', metadata: [] });
const getReq = (key: string) => ({ key, consistency: 'strong', metadata: [] });

const targets: Array<[string, string, Record<string, string>]> = [
  ['state.in-memory', 'state.in-memory.wasm', {}],
  ['state.sqlite', 'state.sqlite.wasm', { connectionString: 'components.db' }],
  ['state.redis', 'state.redis.wasm', { redisHost: REDIS_HOST }],
  ['state.postgresql', 'state.postgresql.wasm', { connectionString: PG_URL, tableName: `wit_${randomUUID().slice(0, 8)}` }],
];

describe('state-store components, called through their WIT exports', () => {
  const dataDir = tempDir('wit');
  const capabilities = new CapabilityThread(dataDir, logger);
  const loader = new ComponentLoader(new TranspileCache(join(dataDir, 'cache')), logger, 5000, 128 * 1024 * 1024);
  const registry = new ComponentRegistry({ appId: 'wit', capabilities, logger, poolSize: 2, callTimeoutMs: 5000, memoryLimitBytes: 128 * 1024 * 1024 });
  after(async () => {
    await registry.close();
    await capabilities.close();
  });

  for (const [type, file, metadata] of targets) {
    describe(type, () => {
      let mod: ComponentModule;
      const call = (fn: string, ...args: unknown[]) => registry.get(type)!.pool.call('stateStore', fn, args);
      const run = randomUUID().slice(0, 8);
      const k = (s: string) => `${run}-${s}`;

      before(async () => {
        mod = await loader.load(join(BUILTIN_COMPONENTS, file), true);
        await registry.apply({ kind: 'Component', name: type, type, version: 'v1', metadata, scopes: [], ignoreErrors: false, file: `(test ${type})` }, mod);
      });

      it('matches interface: exports lifecycle and state-store, describes itself with a compiling schema', () => {
        assert.ok(mod.artifact.exports.some((e) => e.startsWith('mortar:component/lifecycle@')));
        assert.ok(mod.artifact.exports.some((e) => e.startsWith('mortar:component/state-store@')));
        assert.ok(mod.descriptor.types.includes(type));
        assert.match(mod.descriptor.version, /^\d+\.\d+\.\d+$/);
        for (const f of ['ETAG', 'TRANSACTIONAL', 'TTL']) assert.ok(mod.descriptor.features.includes(f), f);
        assert.equal(JSON.parse(mod.descriptor.metadataSchema).type, 'object');
      });

      it('bulk-set reports exactly the keys that failed and writes the others', async () => {
        await call('bulkSet', [setReq(k('a'), 1), setReq(k('b'), 2)]);
        const [a, b] = (await call('bulkGet', [getReq(k('a')), getReq(k('b'))])) as Array<{ item: { etag: string } }>;
        await call('set', setReq(k('a'), 1));
        const failed = (await call('bulkSet', [setReq(k('a'), 10, a!.item.etag), setReq(k('b'), 20, b!.item.etag)])) as Array<{
          key: string;
          error: { tag: string };
        }>;
        assert.deepEqual(
          failed.map((f) => [f.key, f.error.tag]),
          [[k('a'), 'etag-mismatch']],
        );
        const after = (await call('bulkGet', [getReq(k('a')), getReq(k('b'))])) as Array<{ item: { data: Uint8Array } }>;
        assert.equal(Buffer.from(after[0]!.item.data).toString(), '1');
        assert.equal(Buffer.from(after[1]!.item.data).toString(), '20');
      });

      it('bulk-delete with one bad ETag deletes the other key and reports the bad one', async () => {
        await call('bulkSet', [setReq(k('x'), 'x'), setReq(k('y'), 'y')]);
        const [x] = (await call('bulkGet', [getReq(k('x'))])) as Array<{ item: { etag: string } }>;
        await call('set', setReq(k('x'), 'x2'));
        const failed = (await call('bulkDelete', [delReq(k('x'), x!.item.etag), delReq(k('y'))])) as Array<{ key: string; error: { tag: string } }>;
        assert.deepEqual(
          failed.map((f) => [f.key, f.error.tag]),
          [[k('x'), 'etag-mismatch']],
        );
        assert.ok(await call('get', getReq(k('x'))));
        assert.equal(await call('get', getReq(k('y'))), undefined);
        assert.deepEqual(await call('bulkDelete', [delReq(k('x')), delReq(k('never'))]), []);
        assert.equal(await call('get', getReq(k('x'))), undefined);
      });

      it('errors are WIT variants: a bad ttlInSeconds is invalid-argument, a foreign ETag is etag-invalid', async () => {
        await assert.rejects(
          call('set', { ...setReq(k('t'), 1), metadata: [['ttlInSeconds', 'soon']] }),
          (e: unknown) => e instanceof ComponentCallError && e.error.tag === 'invalid-argument' && /ttlInSeconds/.test(String(e.error.val)),
        );
        await assert.rejects(call('set', setReq(k('t'), 1, 'zzz')), (e: unknown) => e instanceof ComponentCallError && e.error.tag === 'etag-invalid');
      });

      it('key-listing: pages through exactly the live keys under a prefix, taken literally (glob and LIKE characters too)', async () => {
        assert.ok(mod.artifact.exports.includes('mortar:component/key-listing@0.1.0'));
        const prefix = k('l*[?]%_\\|');
        const keys = Array.from({ length: 7 }, (_, i) => `${prefix}${i}`);
        // Outside the prefix, though a glob, a LIKE pattern or a prefix of it would match them.
        const decoys = [k('lX[?]%_\\|0'), k('l*[?]X_\\|0'), k('l*[?]%X\\|0'), k('l*[?]%_\\'), k('l')];
        await call(
          'bulkSet',
          [...keys, ...decoys].map((x) => setReq(x, 1)),
        );
        // A key with a TTL is listed until it expires.
        await call('set', { ...setReq(`${prefix}ttl`, 1), metadata: [['ttlInSeconds', '3600']] });
        await call('set', { ...setReq(`${prefix}expiring`, 1), metadata: [['ttlInSeconds', '1']] });
        const expiresBy = performance.now() + 1000;
        const list = async (under = prefix) => {
          const seen = new Set<string>();
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = (await registry.get(type)!.pool.call('keyListing', 'listKeys', [under, cursor, 3])) as { keys: string[]; cursor?: string };
            pages++;
            for (const x of page.keys) seen.add(x);
            cursor = page.cursor ?? undefined;
          } while (cursor !== undefined && pages < 10_000);
          return { keys: [...seen].sort(), pages };
        };
        await new Promise((r) => setTimeout(r, expiresBy + 300 - performance.now()));
        const listed = await list();
        assert.deepEqual(listed.keys, [...keys, `${prefix}ttl`].sort(), 'the live keys, an expired one left out');
        // Redis's SCAN counts by its own measure; the others page by the limit asked.
        if (type !== 'state.redis') assert.equal(listed.pages, 3, 'eight keys in pages of three');
        assert.deepEqual((await list(k('nothing-here-'))).keys, []);
      });

      if (type === 'state.redis') {
        it('read-plan: plans the command bulk-get runs and decodes its reply into the same answers', async () => {
          assert.ok(mod.artifact.exports.includes('mortar:component/read-plan@0.1.0'));
          await call('set', setReq(k('p'), { p: 1 }));
          const reads = [getReq(k('p')), getReq(k('none'))];
          const plan = (await registry.get(type)!.pool.call('readPlan', 'plan', [reads])) as { tag: string; val: Array<{ tag: string; val: unknown }> };
          assert.equal(plan.tag, 'redis-command');
          const [evalsha, sha, ...rest] = plan.val.map((a) => a.val);
          assert.deepEqual([evalsha, ...rest], ['EVALSHA', '2', k('p'), k('none')]);
          assert.match(String(sha), /^[0-9a-f]{40}$/);
          // Run the planned command as the worker would, on a connection of our own.
          const { Redis } = await import('ioredis');
          const [host, port] = REDIS_HOST.split(':');
          const r = new Redis({ host, port: Number(port) });
          const reply = (await r.callBuffer(...(plan.val.map((a) => String(a.val)) as [string, ...string[]]))) as Buffer;
          r.disconnect();
          const outcomes = (await registry
            .get(type)!
            .pool.call('readPlan', 'finish', [2, { tag: 'ok', val: [{ tag: 'bulk', val: new Uint8Array(reply) }] }])) as Array<{
            tag: string;
            val?: { data: Uint8Array; etag: string };
          }>;
          const viaBulkGet = (await call('bulkGet', reads)) as Array<{ item?: { data: Uint8Array; etag: string } }>;
          assert.deepEqual(
            outcomes.map((o) => o.tag),
            ['found', 'missing'],
          );
          assert.equal(Buffer.from(outcomes[0]!.val!.data).toString(), '{"p":1}');
          assert.equal(outcomes[0]!.val!.etag, viaBulkGet[0]!.item!.etag);
          assert.equal(viaBulkGet[1]!.item, undefined);
          // A server that lost the script: `none`, so the host reads through bulk-get instead.
          assert.equal(
            await registry.get(type)!.pool.call('readPlan', 'finish', [2, { tag: 'err', val: { tag: 'reply', val: 'NOSCRIPT No matching script.' } }]),
            undefined,
          );
          await assert.rejects(
            registry.get(type)!.pool.call('readPlan', 'finish', [2, { tag: 'err', val: { tag: 'unavailable', val: 'connection refused' } }]),
            (e: unknown) => e instanceof ComponentCallError && e.error.tag === 'unavailable',
          );
        });
      }
    });
  }
});
