/**
 * The universal API serves any caller, not only the sidecar's own app: a caller's app id is what its state
 * keys are prefixed with, what its CloudEvents name as `source`, and what topic scopes check. Runs a real
 * runtime in process (real components: state.sqlite, pubsub.in-memory) with a real app behind it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Runtime } from '../../host/src/runtime.js';
import { testRuntimeConfig } from '../helpers/runtime-config.js';
import { createLogger } from '../../host/src/logger.js';
import { MortarError } from '../../host/src/errors.js';
import type { Caller } from '../../host/src/api/universal/caller.js';
import { freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { waitUntil } from '../helpers/wait.js';

const SIDECAR_APP = 'orders';
const billing: Caller = { appId: 'billing', transport: 'wasm' };
const orders: Caller = { appId: SIDECAR_APP, transport: 'http' };
const bytes = (s: string) => Buffer.from(s);
/** An ETag of the shape state.sqlite issues, matching no row. */
const WRONG_ETAG = '0'.repeat(32);
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

describe('universal API: the caller decides identity', () => {
  let rt: Runtime;
  let app: SubscriberApp;
  let dataDir: string;
  before(async () => {
    dataDir = tempDir('universal');
    const res = tempDir('universal-res');
    writeComponent(res, 'store.yaml', 'store', 'state.sqlite', { connectionString: 'state.db' });
    // billing may publish only to `invoices`; other apps are not restricted.
    writeComponent(res, 'ps.yaml', 'ps', 'pubsub.in-memory', { publishingScopes: 'billing=invoices' });
    const appPort = await freePort();
    app = await SubscriberApp.start([{ pubsubname: 'ps', topic: 'invoices', route: '/invoices' }], appPort);
    const config = testRuntimeConfig({ appId: SIDECAR_APP, appPort, resourcePaths: [res], dataDir });
    rt = new Runtime(config, createLogger('silent', SIDECAR_APP));
    await rt.start();
    await waitUntil(() => rt.ready(), 'the runtime ready (app reachable, subscriptions established)', 15_000);
  });
  after(async () => {
    await rt?.stop();
    await app?.close();
  });

  it("state: a caller's keys are stored under its own app id, and another app does not see them", async () => {
    await rt.api.saveState(billing, 'store', [{ key: 'k', value: bytes('"by billing"'), metadata: {} }]);
    await rt.api.saveState(orders, 'store', () => [{ key: 'k', value: bytes('"by orders"'), metadata: {} }]);
    assert.equal(text((await rt.api.getState(billing, 'store', { key: 'k', metadata: {} }))?.data), '"by billing"');
    assert.equal(text((await rt.api.getState(orders, 'store', { key: 'k', metadata: {} }))?.data), '"by orders"');
    const db = new DatabaseSync(join(dataDir, 'state.db.sqlite'), { readOnly: true });
    try {
      const keys = (db.prepare('SELECT key FROM state ORDER BY key').all() as unknown as Array<{ key: string }>).map((r) => r.key);
      assert.deepEqual(keys, ['billing||k', 'orders||k']);
    } finally {
      db.close();
    }
    // Over HTTP the caller is the sidecar's app.
    const r = await fetch(`${rt.httpAddress()}/v1.0/state/store/k`);
    assert.equal(await r.text(), '"by orders"');
  });

  it("bulk get, transaction and bulk delete act on the caller's keys only", async () => {
    await rt.api.executeStateTransaction(billing, 'store', {
      operations: ['a', 'b', 'c'].map((key) => ({ operation: 'upsert' as const, request: { key, value: bytes(`"${key}"`), metadata: {} } })),
      metadata: {},
    });
    const got = await rt.api.getBulkState(billing, 'store', { keys: ['a', 'b', 'c', 'k'], metadata: {} });
    assert.deepEqual(
      got.map((g) => [g.key, text(g.item?.data)]),
      [
        ['a', '"a"'],
        ['b', '"b"'],
        ['c', '"c"'],
        ['k', '"by billing"'],
      ],
    );
    assert.deepEqual(
      (await rt.api.getBulkState(orders, 'store', { keys: ['a'], metadata: {} })).map((g) => g.item),
      [undefined],
    );
    await rt.api.deleteBulkState(billing, 'store', [
      { key: 'a', metadata: {} },
      { key: 'b', metadata: {} },
    ]);
    const left = await rt.api.getBulkState(billing, 'store', () => ({ keys: ['a', 'b', 'c'], metadata: {} }));
    assert.deepEqual(
      left.map((g) => text(g.item?.data)),
      [undefined, undefined, '"c"'],
    );
  });

  it('bulk delete: an ETag mismatch is 409 ERR_STATE_DELETE naming the keys, and deletes nothing of that key', async () => {
    await rt.api.saveState(billing, 'store', [
      { key: 'e1', value: bytes('1'), metadata: {} },
      { key: 'e2', value: bytes('2'), metadata: {} },
    ]);
    await assert.rejects(
      rt.api.deleteBulkState(billing, 'store', [
        { key: 'e1', etag: WRONG_ETAG, metadata: {} },
        { key: 'e2', etag: WRONG_ETAG, metadata: {} },
      ]),
      (e: unknown) =>
        e instanceof MortarError && e.code === 'ERR_STATE_DELETE' && e.http === 409 && e.message.startsWith('failed deleting state with key e1, e2: '),
    );
    assert.equal(text((await rt.api.getState(billing, 'store', { key: 'e1', metadata: {} }))?.data), '1');
  });

  it("pub/sub: the CloudEvent's source is the caller's app id", async () => {
    await rt.api.publishEvent(billing, { pubsub: 'ps', topic: 'invoices', data: bytes('{"n":1}'), contentType: 'application/json', metadata: {} });
    await app.until(() => app.on('/invoices').length === 1, 10_000, 'the event');
    assert.equal(app.on('/invoices')[0]!.event?.source, 'billing');
    const { failedEntries } = await rt.api.bulkPublishEvent(billing, {
      pubsub: 'ps',
      topic: 'invoices',
      metadata: {},
      entries: [{ entryId: '1', event: bytes('x'), contentType: 'text/plain' }],
    });
    assert.deepEqual(failedEntries, []);
    await app.until(() => app.on('/invoices').length === 2, 10_000, 'the bulk event');
    assert.equal(app.on('/invoices')[1]!.event?.source, 'billing');
  });

  it("pub/sub: topic scopes are checked against the caller's app id, once, for single and bulk publish", async () => {
    const forbidden = (e: unknown) =>
      e instanceof MortarError && e.code === 'ERR_PUBSUB_FORBIDDEN' && e.http === 403 && e.message === 'topic audit is not allowed for app id billing';
    await assert.rejects(rt.api.publishEvent(billing, { pubsub: 'ps', topic: 'audit', data: bytes('x'), metadata: {} }), forbidden);
    let decoded = false;
    await assert.rejects(
      rt.api.bulkPublishEvent(billing, {
        pubsub: 'ps',
        topic: 'audit',
        metadata: {},
        entries: () => {
          decoded = true;
          return [];
        },
      }),
      forbidden,
    );
    assert.equal(decoded, false, 'the entries are not decoded for a refused request');
    // The sidecar's own app is not listed in the scopes: it may.
    await rt.api.publishEvent(orders, { pubsub: 'ps', topic: 'audit', data: bytes('x'), metadata: {} });
  });

  it('bulk publish entries need unique, non-empty ids, whatever the transport', async () => {
    const req = (ids: string[]) => ({
      pubsub: 'ps',
      topic: 'invoices',
      metadata: {},
      entries: ids.map((entryId) => ({ entryId, event: bytes('x'), contentType: 'text/plain' })),
    });
    await assert.rejects(rt.api.bulkPublishEvent(billing, req(['a', ''])), /entry 1: entryId is missing/);
    await assert.rejects(rt.api.bulkPublishEvent(billing, req(['a', 'a'])), /entry 1: entryId 'a' is not unique/);
  });

  it('invokeBinding of a binding the runtime does not have is 500 ERR_INVOKE_OUTPUT_BINDING naming it, as daprd', async () => {
    await assert.rejects(
      rt.api.invokeBinding(billing, { name: 'b', operation: 'create', data: bytes(''), metadata: {} }),
      (e: unknown) =>
        e instanceof MortarError &&
        e.code === 'ERR_INVOKE_OUTPUT_BINDING' &&
        e.http === 500 &&
        e.message === "error invoking output binding b: couldn't find output binding b",
    );
  });

  it('metadata and health: typed results about the sidecar, whoever asks', () => {
    const md = rt.api.getMetadata(billing);
    assert.equal(md.id, SIDECAR_APP);
    assert.deepEqual(md.components.map((c) => c.name).sort(), ['ps', 'store']);
    assert.deepEqual(md.appConnectionProperties && { ...md.appConnectionProperties, port: 0 }, {
      port: 0,
      protocol: 'http',
      channelAddress: '127.0.0.1',
      maxConcurrency: 0,
      health: undefined,
    });
    rt.api.setMetadata(billing, 'k', bytes('v'));
    assert.equal(rt.api.getMetadata(orders).extended.k, 'v');
    rt.api.healthz(billing);
    assert.throws(
      () => rt.api.healthz(billing, 'billing'),
      (e: unknown) => e instanceof MortarError && e.code === 'ERR_HEALTH_APPID_NOT_MATCH',
    );
  });

  it('a streaming subscription needs no gRPC: any transport hands in a sink, which gets each CloudEvent; RETRY redelivers it, and closing gives an unanswered one back', async () => {
    await assert.rejects(
      rt.api.subscribeTopicEvents(billing, { pubsub: '', topic: 't', metadata: {} }, { deliver: async () => 'SUCCESS' }),
      (e: unknown) => e instanceof MortarError && e.code === 'ERR_PUBSUB_STREAM' && e.message === 'pubsubName is required',
    );
    await assert.rejects(
      rt.api.subscribeTopicEvents(billing, { pubsub: 'ps', topic: '', metadata: {} }, { deliver: async () => 'SUCCESS' }),
      (e: unknown) => e instanceof MortarError && e.message === 'topic is required',
    );
    await assert.rejects(
      rt.api.subscribeTopicEvents(billing, { pubsub: 'nope', topic: 't', metadata: {} }, { deliver: async () => 'SUCCESS' }),
      (e: unknown) => e instanceof MortarError && e.code === 'ERR_PUBSUB_NOT_FOUND',
    );
    const got: Array<{ id: unknown; data: unknown; topic: string; path: string }> = [];
    const answers: Array<'SUCCESS' | 'RETRY' | 'DROP'> = ['RETRY', 'SUCCESS'];
    const stream = await rt.api.subscribeTopicEvents(
      billing,
      { pubsub: 'ps', topic: 'sink-topic', metadata: {} },
      {
        deliver: async (ev) => {
          got.push({ id: ev.event.id, data: ev.event.data, topic: ev.topic, path: ev.path });
          return answers.shift() ?? 'SUCCESS';
        },
      },
    );
    await rt.api.publishEvent(orders, { pubsub: 'ps', topic: 'sink-topic', data: bytes('{"n":1}'), contentType: 'application/json', metadata: {} });
    await waitUntil(() => got.length === 2, 'the event and its redelivery after RETRY');
    assert.equal(got[0]!.id, got[1]!.id);
    assert.deepEqual(got[0]!.data, { n: 1 });
    assert.equal(got[0]!.topic, 'sink-topic');
    assert.equal(got[0]!.path, '/');
    await stream.close(0, () => undefined);

    // A sink that never answers: closing it rejects the delivery, and the message goes to the next stream.
    let hold: ((e: Error) => void) | undefined;
    const stuck = await rt.api.subscribeTopicEvents(
      billing,
      { pubsub: 'ps', topic: 'sink-topic', metadata: {} },
      { deliver: () => new Promise((_, reject) => (hold = reject)) },
    );
    await rt.api.publishEvent(orders, { pubsub: 'ps', topic: 'sink-topic', data: bytes('{"n":2}'), contentType: 'application/json', metadata: {} });
    await waitUntil(() => hold !== undefined, 'the event at the silent sink');
    await stuck.close(0, () => hold!(new Error('stream closed')));
    const later: unknown[] = [];
    const next = await rt.api.subscribeTopicEvents(
      billing,
      { pubsub: 'ps', topic: 'sink-topic', metadata: {} },
      {
        deliver: async (ev) => {
          later.push(ev.event.data);
          return 'SUCCESS';
        },
      },
    );
    await waitUntil(() => later.length === 1, 'the unanswered event, given back to the broker');
    assert.deepEqual(later, [{ n: 2 }]);
    await next.close(0, () => undefined);
  });
});
