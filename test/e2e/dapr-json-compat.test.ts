/**
 * JSON as daprd reads and writes it: request field names match case-insensitively (Go's `encoding/json`), and
 * CloudEvent envelopes have their keys in Go's sorted map order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import { Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';

/** The top-level keys of a JSON object text, in the order written. */
function keysInOrder(json: string): string[] {
  const obj = JSON.parse(json) as Record<string, unknown>;
  return Object.keys(obj).sort((a, b) => json.indexOf(`${JSON.stringify(a)}:`) - json.indexOf(`${JSON.stringify(b)}:`));
}

describe('daprd JSON compatibility', () => {
  let sc: Sidecar;
  let app: SubscriberApp;
  let client: DaprClient;
  const topics = {
    plain: `plain-${randomUUID()}`,
    json: `json-${randomUUID()}`,
    bin: `bin-${randomUUID()}`,
    ce: `ce-${randomUUID()}`,
    raw: `raw-${randomUUID()}`,
    bulk: `bulk-${randomUUID()}`,
    caps: `caps-${randomUUID()}`,
  };
  before(async () => {
    app = await SubscriberApp.start([
      { PubsubName: 'ps', TOPIC: topics.caps, Routes: { Default: '/caps' } },
      ...Object.entries(topics)
        .filter(([n]) => n !== 'raw' && n !== 'caps')
        .map(([n, topic]) => ({ pubsubname: 'ps', topic, route: `/${n}` })),
      { pubsubname: 'ps', topic: topics.raw, route: '/raw', metadata: { rawPayload: 'true' } },
    ]);
    const dir = tempDir('jsoncompat');
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    writeComponent(dir, 'ps.yaml', 'ps', 'pubsub.in-memory');
    sc = await Sidecar.start({ resourcesPath: dir, args: ['--app-port', String(app.port)] });
    client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sc.port), communicationProtocol: CommunicationProtocolEnum.HTTP });
    await sc.waitForLog((l) => l.includes('subscribed to ps'));
  });
  after(async () => {
    await client?.stop();
    await sc?.stop();
    await app?.close();
  });

  describe('request field names are matched case-insensitively, as Go decodes them', () => {
    it('state save, bulk get and transaction accept Key/VALUE/ETag/Metadata/Options, KEYS and Operations/Request', async () => {
      const k = randomUUID();
      const s = await sc.json('POST', '/v1.0/state/mem', [
        { KEY: k, Value: { a: 1 }, Metadata: { ttlInSeconds: '3600' }, OPTIONS: { Concurrency: 'first-write' } },
      ]);
      assert.equal(s.status, 204, s.text);
      const g = await sc.fetch(`/v1.0/state/mem/${k}`);
      assert.equal(await g.text(), '{"a":1}');
      assert.ok(g.headers.get('metadata.ttlExpireTime'), 'Metadata reached the store');
      const again = await sc.json('POST', '/v1.0/state/mem', [{ key: k, value: 2, options: { CONCURRENCY: 'first-write' } }]);
      assert.equal(again.status, 409, 'Options.Concurrency was applied');
      const etag = g.headers.get('etag')!;
      assert.equal((await sc.json('POST', '/v1.0/state/mem', [{ Key: k, value: 3, ETag: 'not-it' }])).status, 400, 'ETag was read');
      assert.equal((await sc.json('POST', '/v1.0/state/mem', [{ Key: k, value: 3, ETag: etag }])).status, 204);
      const bulk = await sc.json('POST', '/v1.0/state/mem/bulk', { KEYS: [k], Parallelism: 2 });
      assert.deepEqual(
        (bulk.body as Array<{ key: string; data: unknown }>).map((b) => [b.key, b.data]),
        [[k, 3]],
      );
      const tx = await sc.json('POST', '/v1.0/state/mem/transaction', {
        Operations: [
          { Operation: 'upsert', REQUEST: { '\u212aey': `${k}-kelvin`, value: 'k' } },
          { operation: 'delete', Request: { key: k } },
        ],
      });
      assert.equal(tx.status, 204, tx.text);
      assert.equal(await (await sc.fetch(`/v1.0/state/mem/${k}-kelvin`)).text(), '"k"', 'U+212A KELVIN SIGN folds to k, as in Go');
      assert.equal((await sc.fetch(`/v1.0/state/mem/${k}`)).status, 204);
    });

    it('the app\'s answers too: a /dapr/subscribe entry spelled PubsubName/TOPIC/Routes.Default is served, and {"Status":"RETRY"} is a retry', async () => {
      let answers = 0;
      app.respond = (d) => (d.path === '/caps' && answers++ === 0 ? { status: 200, body: '{"Status":"RETRY"}' } : { status: 200 });
      const r = await sc.fetch(`/v1.0/publish/ps/${topics.caps}`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 204);
      await app.until(() => app.on('/caps').length >= 2, 10_000, 'the retried delivery');
      app.respond = () => ({ status: 200 });
    });

    it("bulk publish accepts entryID (what the official SDK sends) as well as entryId, and the SDK's publishBulk succeeds", async () => {
      const before = app.on('/bulk').length;
      const r = await sc.json('POST', `/v1.0-alpha1/publish/bulk/ps/${topics.bulk}`, [
        { entryID: 'a', event: 'one', contentType: 'text/plain' },
        { ENTRYID: 'b', Event: 'two', ContentType: 'text/plain' },
      ]);
      assert.equal(r.status, 204, r.text);
      const dup = await sc.json('POST', `/v1.0-alpha1/publish/bulk/ps/${topics.bulk}`, [
        { entryID: 'a', event: 'x' },
        { entryId: 'a', event: 'y' },
      ]);
      assert.equal(dup.status, 400, 'entryID and entryId are one field: the IDs are duplicates');
      const sdk = await client.pubsub.publishBulk('ps', topics.bulk, ['three', 'four']);
      assert.deepEqual(sdk.failedMessages, []);
      await app.until(() => app.on('/bulk').length >= before + 4);
      assert.deepEqual(
        app
          .on('/bulk')
          .slice(before)
          .map((d) => d.event?.data)
          .sort(),
        ['four', 'one', 'three', 'two'],
      );
    });
  });

  describe("CloudEvent envelopes have their keys in sorted order, as Go marshals daprd's map", () => {
    it('text, JSON, binary and app-made CloudEvents, and raw-payload deliveries', async () => {
      const send = async (topic: string, body: string, contentType: string) => {
        const r = await sc.fetch(`/v1.0/publish/ps/${topic}?metadata.ttlInSeconds=600&metadata.cloudevent.subject=s`, {
          method: 'POST',
          body,
          headers: { 'content-type': contentType },
        });
        assert.equal(r.status, 204, await r.text());
      };
      await send(topics.plain, 'hello', 'text/plain');
      await send(topics.json, '{"z":1,"big":12345678901234567890,"a":[1,2]}', 'application/json');
      await send(topics.bin, 'AAEC', 'application/octet-stream');
      await send(
        topics.ce,
        JSON.stringify({ zeta: 1, id: 'app-id', data: { y: 1 }, alpha: 'x', specversion: '1.0', type: 't', source: 'me' }),
        'application/cloudevents+json',
      );
      await send(topics.raw, 'raw bytes', 'text/plain');
      await app.until(() => ['/plain', '/json', '/bin', '/ce', '/raw'].every((p) => app.on(p).length > 0));
      for (const path of ['/plain', '/json', '/bin', '/ce', '/raw']) {
        const body = app.on(path)[0]!.body;
        const keys = keysInOrder(body);
        assert.deepEqual(keys, [...keys].sort(), `${path}: ${body}`);
      }
      assert.deepEqual(keysInOrder(app.on('/plain')[0]!.body), [
        'data',
        'datacontenttype',
        'expiration',
        'id',
        'pubsubname',
        'source',
        'specversion',
        'subject',
        'time',
        'topic',
        'traceid',
        'traceparent',
        'tracestate',
        'type',
      ]);
      // The app's JSON data is embedded byte for byte (its own key order and big numbers kept).
      assert.ok(
        app.on('/json')[0]!.body.startsWith('{"data":{"z":1,"big":12345678901234567890,"a":[1,2]},"datacontenttype":"application/json",'),
        app.on('/json')[0]!.body,
      );
      assert.ok(keysInOrder(app.on('/bin')[0]!.body).includes('data_base64'));
    });
  });
});
