/**
 * `mortar:app` as a workload's imports (`host/src/workloads/app-imports.ts`), called directly as the engine's
 * bridge calls them: each WIT function over the universal API for the workload's own app id, on real
 * components (state.redis on the local Redis, the embedded default state.sqlite, pubsub.in-memory delivering to
 * a real app, bindings.localstorage), with the catalogue's errors as the WIT `app-error` cases.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Runtime } from '../../host/src/runtime.js';
import type { RuntimeConfig } from '../../host/src/config.js';
import { testRuntimeConfig } from '../helpers/runtime-config.js';
import { createLogger } from '../../host/src/logger.js';
import type { Caller } from '../../host/src/api/universal/caller.js';
import { APP_INTERFACES, appImports, appImportTable, type AppImports } from '../../host/src/workloads/app-imports.js';
import type { AppError } from '../../host/generated/interfaces/mortar-app-types.js';
import type { SaveItem } from '../../host/generated/interfaces/mortar-app-state.js';
import { freePort, ROOT, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { waitUntil } from '../helpers/wait.js';

const SIDECAR_APP = 'orders';
const WORKLOAD: Caller = { appId: 'wl-sdk-test', transport: 'wasm' };
const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);
const save = (key: string, value: string, more: Partial<SaveItem> = {}): SaveItem => ({
  key,
  value: bytes(value),
  concurrency: 'last-write',
  consistency: 'eventual',
  metadata: [],
  ...more,
});

/** Asserts that `p` rejects with the `app-error` case `tag` carrying catalogue code `code` (and a message matching `message`). */
async function rejectsWith(p: Promise<unknown>, tag: AppError['tag'], code: string, message?: RegExp): Promise<AppError> {
  const err = await p.then(
    () => assert.fail(`expected ${tag} (${code}), but the call succeeded`),
    (e: unknown) => e as AppError,
  );
  assert.equal(err.tag, tag, JSON.stringify(err));
  assert.equal(err.val.code, code, JSON.stringify(err));
  if (message) assert.match(err.val.message, message);
  return err;
}

function config(resourcePaths: string[], dataDir: string, appPort?: number): RuntimeConfig {
  return testRuntimeConfig({ appId: SIDECAR_APP, appPort, resourcePaths, dataDir });
}

describe('mortar:app imports over the universal API', () => {
  let configured: Runtime;
  let embedded: Runtime;
  let bindingsOnly: Runtime;
  let app: SubscriberApp;
  let redis: Redis;
  let files: string;
  let wl: AppImports;
  let wlDefault: AppImports;
  const redisKeys: string[] = [];

  before(async () => {
    const res = tempDir('app-imports-res');
    files = tempDir('app-imports-files');
    writeComponent(res, 'redis.yaml', 'redis', 'state.redis', { redisHost: '127.0.0.1:6379' });
    // The workload may publish only to `orders`; the sidecar's app subscribes to it.
    writeComponent(res, 'ps.yaml', 'ps', 'pubsub.in-memory', { publishingScopes: `${WORKLOAD.appId}=orders` });
    writeComponent(res, 'files.yaml', 'files', 'bindings.localstorage', { rootPath: files });
    const appPort = await freePort();
    app = await SubscriberApp.start([{ pubsubname: 'ps', topic: 'orders', route: '/orders' }], appPort);
    configured = new Runtime(config([res], tempDir('app-imports-data'), appPort), createLogger('silent', SIDECAR_APP));
    // No resources path: the embedded defaults (`statestore` on state.sqlite, `pubsub` in memory).
    embedded = new Runtime(config([], tempDir('app-imports-default')), createLogger('silent', SIDECAR_APP));
    // Neither a state store nor a pub/sub: only a binding.
    const lone = tempDir('app-imports-lone');
    writeComponent(lone, 'files.yaml', 'files', 'bindings.localstorage', { rootPath: tempDir('app-imports-lone-files') });
    bindingsOnly = new Runtime(config([lone], tempDir('app-imports-lone-data')), createLogger('silent', SIDECAR_APP));
    await Promise.all([configured.start(), embedded.start(), bindingsOnly.start()]);
    await waitUntil(() => configured.ready() && embedded.outboundReady() && bindingsOnly.outboundReady(), 'the runtimes ready', 20_000);
    wl = appImports(configured.api, WORKLOAD);
    wlDefault = appImports(embedded.api, WORKLOAD);
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await redis.connect();
  });
  after(async () => {
    if (redisKeys.length > 0) await redis?.del(...redisKeys);
    redis?.disconnect();
    await Promise.all([configured?.stop(), embedded?.stop(), bindingsOnly?.stop()]);
    await app?.close();
  });

  for (const [label, storeName, imports] of [
    ['state.redis', 'redis', () => wl],
    ['the embedded default state.sqlite', 'statestore', () => wlDefault],
  ] as const) {
    describe(`state on ${label}`, () => {
      const key = (k: string) => {
        redisKeys.push(`${WORKLOAD.appId}||${k}`);
        return k;
      };

      it('save then get returns the bytes exactly, with an ETag; a missing key is none; bulk get keeps the order', async () => {
        const s = imports().state;
        const value = new Uint8Array([0, 1, 2, 255, 34]);
        await s.save(storeName, [save(key('bin'), ''), { ...save(key('bin'), ''), value }]);
        const item = await s.get(storeName, 'bin', 'strong', []);
        assert.deepEqual(item?.value, value);
        assert.ok(item?.etag, 'the item has an ETag');
        assert.equal(await s.get(storeName, key('never-saved'), 'eventual', []), undefined);
        await s.save(storeName, [save(key('empty'), '')]);
        assert.deepEqual((await s.get(storeName, 'empty', 'eventual', []))?.value, new Uint8Array(), 'an empty value is not a missing key');
        const bulk = await s.getBulk(storeName, ['empty', 'never-saved', 'bin'], []);
        assert.deepEqual(
          bulk.map((b) => [b.key, b.item?.value.length, b.error]),
          [
            ['empty', 0, undefined],
            ['never-saved', undefined, undefined],
            ['bin', 5, undefined],
          ],
        );
      });

      it('ETags: a stale ETag and first-write on an existing key are etag-mismatch (ERR_STATE_SAVE); a foreign ETag is etag-invalid; the current one writes', async () => {
        const s = imports().state;
        await s.save(storeName, [save(key('e'), '"v1"')]);
        const first = (await s.get(storeName, 'e', 'eventual', []))!.etag!;
        await s.save(storeName, [save('e', '"v2"', { etag: first })]);
        await rejectsWith(s.save(storeName, [save('e', '"v3"', { etag: first })]), 'etag-mismatch', 'ERR_STATE_SAVE', /etag mismatch/);
        await rejectsWith(s.save(storeName, [save('e', '"v3"', { concurrency: 'first-write' })]), 'etag-mismatch', 'ERR_STATE_SAVE');
        await rejectsWith(s.save(storeName, [save('e', '"v3"', { etag: 'not-an-etag' })]), 'etag-invalid', 'ERR_STATE_SAVE', /invalid etag/);
        assert.equal(text((await s.get(storeName, 'e', 'eventual', []))?.value), '"v2"');
        await rejectsWith(
          s.delete(storeName, { key: 'e', etag: first, concurrency: 'last-write', consistency: 'eventual', metadata: [] }),
          'etag-mismatch',
          'ERR_STATE_DELETE',
        );
        const current = (await s.get(storeName, 'e', 'eventual', []))!.etag;
        await s.delete(storeName, { key: 'e', etag: current, concurrency: 'last-write', consistency: 'eventual', metadata: [] });
        assert.equal(await s.get(storeName, 'e', 'eventual', []), undefined);
      });

      it('transact applies upserts and deletes together; an ETag mismatch is etag-mismatch (ERR_STATE_TRANSACTION) and changes nothing', async () => {
        const s = imports().state;
        await s.save(storeName, [save(key('ta'), '1'), save(key('tb'), '2')]);
        await s.transact(
          storeName,
          [
            { tag: 'upsert', val: save('ta', '10') },
            { tag: 'delete', val: { key: 'tb', concurrency: 'last-write', consistency: 'eventual', metadata: [] } },
          ],
          [],
        );
        assert.equal(text((await s.get(storeName, 'ta', 'eventual', []))?.value), '10');
        assert.equal(await s.get(storeName, 'tb', 'eventual', []), undefined);
        const stale = (await s.get(storeName, 'ta', 'eventual', []))!.etag;
        await s.save(storeName, [save('ta', '11')]);
        await rejectsWith(
          s.transact(
            storeName,
            [
              { tag: 'upsert', val: save(key('tc'), 'new') },
              { tag: 'upsert', val: save('ta', '12', { etag: stale }) },
            ],
            [],
          ),
          'etag-mismatch',
          'ERR_STATE_TRANSACTION',
        );
        assert.equal(await s.get(storeName, 'tc', 'eventual', []), undefined, 'the other operation did not take effect');
        assert.equal(text((await s.get(storeName, 'ta', 'eventual', []))?.value), '11');
      });

      it('TTL: ttl-in-seconds sets the expiry (ttlExpireTime); with metadata ttlInSeconds too, or a negative TTL, it is bad-request', async () => {
        const s = imports().state;
        await s.save(storeName, [save(key('ttl'), '"x"', { ttlInSeconds: 3600n })]);
        const item = await s.get(storeName, 'ttl', 'eventual', []);
        const expiry = Date.parse(Object.fromEntries(item!.metadata).ttlExpireTime ?? '');
        assert.ok(expiry > Date.now() + 3500_000 && expiry < Date.now() + 3700_000, `ttlExpireTime about an hour from now: ${JSON.stringify(item!.metadata)}`);
        await rejectsWith(
          s.save(storeName, [save('ttl', '"y"', { ttlInSeconds: 5n, metadata: [['ttlInSeconds', '5']] })]),
          'bad-request',
          'ERR_BAD_REQUEST',
          /ttl-in-seconds and metadata ttlInSeconds/,
        );
        await rejectsWith(s.save(storeName, [save('ttl', '"y"', { ttlInSeconds: -5n })]), 'bad-request', 'ERR_STATE_SAVE', /ttlInSeconds/);
      });

      it('keys are the workload app id’s: another app id does not see them', async () => {
        const s = imports().state;
        await s.save(storeName, [save(key('mine'), '"wl"')]);
        const other = appImports(storeName === 'redis' ? configured.api : embedded.api, { appId: 'someone-else', transport: 'wasm' });
        assert.equal(await other.state.get(storeName, 'mine', 'eventual', []), undefined);
      });
    });
  }

  it("state.redis stores a workload's keys as Dapr does: a hash under <app-id>||<key>", async () => {
    await wl.state.save('redis', [save('layout', '{"n":1}')]);
    redisKeys.push(`${WORKLOAD.appId}||layout`);
    assert.equal(await redis.hget(`${WORKLOAD.appId}||layout`, 'data'), '{"n":1}');
  });

  it('state errors: an unknown store is not-found (state store or pub/sub), an illegal key and a repeated metadata key bad-request', async () => {
    await rejectsWith(wl.state.get('nope', 'k', 'eventual', []), 'not-found', 'ERR_STATE_STORE_NOT_FOUND', /state store nope is not found/);
    await rejectsWith(wl.state.save('redis', [save('a||b', '1')]), 'bad-request', 'ERR_STATE_ILLEGAL_KEY');
    await rejectsWith(
      wl.state.get('redis', 'k', 'eventual', [
        ['a', '1'],
        ['a', '2'],
      ]),
      'bad-request',
      'ERR_BAD_REQUEST',
      /key 'a' is given twice/,
    );
    await rejectsWith(wl.pubsub.publish('nope', 'orders', { data: bytes('x'), rawPayload: false, metadata: [] }), 'not-found', 'ERR_PUBSUB_NOT_FOUND');
  });

  it('with no state store or pub/sub configured at all, calls are not-configured (ERR_STATE_STORE_NOT_CONFIGURED, ERR_PUBSUB_NOT_CONFIGURED)', async () => {
    const lone = appImports(bindingsOnly.api, WORKLOAD);
    await rejectsWith(lone.state.get('statestore', 'k', 'eventual', []), 'not-configured', 'ERR_STATE_STORE_NOT_CONFIGURED');
    await rejectsWith(lone.state.transact('statestore', [], []), 'not-configured', 'ERR_STATE_STORE_NOT_CONFIGURED');
    await rejectsWith(
      lone.pubsub.publish('pubsub', 'orders', { data: bytes('x'), rawPayload: false, metadata: [] }),
      'not-configured',
      'ERR_PUBSUB_NOT_CONFIGURED',
    );
  });

  it('publish: the event reaches the subscribed app as a CloudEvent whose source is the workload; raw-payload sends the bytes as they are', async () => {
    const before = app.deliveries.length;
    await wl.pubsub.publish('ps', 'orders', { data: bytes('{"order":1}'), contentType: 'application/json', rawPayload: false, metadata: [] });
    await waitUntil(() => app.deliveries.length > before, 'the event delivered', 10_000);
    const d = app.deliveries[before]!;
    assert.equal(d.path, '/orders');
    assert.equal(d.event?.source, WORKLOAD.appId);
    assert.deepEqual(d.event?.data, { order: 1 });
    // Raw: the bytes go to the broker as they are (here a CloudEvent written by hand, which the sidecar delivers as it is).
    const handmade = '{"data":{"raw":1},"id":"h1","source":"handmade","specversion":"1.0","type":"t"}';
    await wl.pubsub.publish('ps', 'orders', { data: bytes(handmade), contentType: 'application/json', rawPayload: true, metadata: [] });
    await waitUntil(() => app.deliveries.length > before + 1, 'the raw event delivered', 10_000);
    assert.equal(app.deliveries[before + 1]!.event?.source, 'handmade');
    assert.deepEqual(app.deliveries[before + 1]!.event?.data, { raw: 1 });
  });

  it("publish: a topic outside the workload's publishing scopes is forbidden (ERR_PUBSUB_FORBIDDEN); an empty topic bad-request", async () => {
    await rejectsWith(
      wl.pubsub.publish('ps', 'invoices', { data: bytes('x'), rawPayload: false, metadata: [] }),
      'forbidden',
      'ERR_PUBSUB_FORBIDDEN',
      /not allowed for app id wl-sdk-test/,
    );
    await rejectsWith(wl.pubsub.publish('ps', '', { data: bytes('x'), rawPayload: false, metadata: [] }), 'bad-request', 'ERR_TOPIC_NAME_EMPTY');
  });

  it('publish-bulk: every entry is delivered and none fails; a repeated entry id is bad-request', async () => {
    const before = app.deliveries.length;
    const failed = await wl.pubsub.publishBulk(
      'ps',
      'orders',
      ['b1', 'b2'].map((entryId) => ({
        entryId,
        message: { data: bytes(`{"id":"${entryId}"}`), contentType: 'application/json', rawPayload: false, metadata: [] },
      })),
      [],
    );
    assert.deepEqual(failed, []);
    await waitUntil(() => app.deliveries.length >= before + 2, 'both entries delivered', 10_000);
    assert.deepEqual(
      app.deliveries
        .slice(before)
        .map((d) => (d.event?.data as { id?: string } | undefined)?.id)
        .sort(),
      ['b1', 'b2'],
    );
    await rejectsWith(
      wl.pubsub.publishBulk(
        'ps',
        'orders',
        ['x', 'x'].map((entryId) => ({ entryId, message: { data: bytes('1'), rawPayload: false, metadata: [] } })),
        [],
      ),
      'bad-request',
      'ERR_PUBSUB_EVENTS_SER',
      /not unique/,
    );
  });

  it('bindings: invoke runs the operation and returns the response; an unknown binding is internal (ERR_INVOKE_OUTPUT_BINDING, as daprd)', async () => {
    const created = await wl.bindings.invoke('files', { operation: 'create', data: bytes('{"n":42}'), metadata: [['fileName', 'a.json']] });
    assert.ok(created);
    assert.equal(readFileSync(join(files, 'a.json'), 'utf8'), '{"n":42}');
    const got = await wl.bindings.invoke('files', { operation: 'get', data: new Uint8Array(), metadata: [['fileName', 'a.json']] });
    assert.equal(text(got?.data), '{"n":42}');
    await rejectsWith(
      wl.bindings.invoke('nope', { operation: 'get', data: new Uint8Array(), metadata: [] }),
      'internal',
      'ERR_INVOKE_OUTPUT_BINDING',
      /couldn't find output binding nope/,
    );
  });

  it("metadata: get reports the sidecar's components and subscriptions; app-id is the workload's", async () => {
    const m = await wl.metadata.get();
    assert.equal(m.id, SIDECAR_APP);
    assert.deepEqual(m.components.map((c) => c.name).sort(), ['files', 'ps', 'redis']);
    assert.ok(m.components.find((c) => c.name === 'redis')?.capabilities.includes('ETAG'));
    assert.deepEqual(
      m.subscriptions.map((s) => [s.pubsubName, s.topic, s.type]),
      [['ps', 'orders', 'PROGRAMMATIC']],
    );
    assert.equal(await wl.metadata.appId(), WORKLOAD.appId);
  });

  it('the flat table has one operation per function of wit/deps/app/app.wit, and dispatches with the arguments as jco lifts them', async () => {
    const wit = readFileSync(join(ROOT, 'wit/deps/app/app.wit'), 'utf8');
    const fromWit: string[] = [];
    for (const m of wit.matchAll(/^interface ([a-z-]+) \{([\s\S]*?)^\}/gm)) {
      for (const f of m[2]!.matchAll(/^\s*([a-z][a-z0-9-]*): func\(/gm)) fromWit.push(`${m[1]}.${f[1]}`);
    }
    const table = appImportTable(configured.api, WORKLOAD);
    assert.deepEqual(Object.keys(table).sort(), fromWit.sort());
    assert.deepEqual(
      Object.entries(APP_INTERFACES)
        .flatMap(([i, fns]) => fns.map((f) => `${i}.${f}`))
        .sort(),
      fromWit.sort(),
    );
    await table['state.save']!(['redis', [save('via-table', '"t"')]]);
    redisKeys.push(`${WORKLOAD.appId}||via-table`);
    const item = (await table['state.get']!(['redis', 'via-table', 'eventual', []])) as { value: Uint8Array };
    assert.equal(text(item.value), '"t"');
    await rejectsWith(table['state.get']!(['nope', 'k', 'eventual', []]), 'not-found', 'ERR_STATE_STORE_NOT_FOUND');
  });
});
