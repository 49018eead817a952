/**
 * The gRPC app channel's translation of the delivery loops' calls, against a real @grpc/grpc-js app
 * (test/helpers/grpc-app.ts): a bulk delivery as `OnBulkTopicEvent`, falling back to
 * `AppCallbackAlpha.OnBulkTopicEventAlpha1` (and remembering which the app serves), the per-entry statuses as
 * the body an HTTP app answers, and `OnBindingEvent`'s `to` / `data` / `concurrency` answer.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { GrpcAppChannel } from '../../host/src/app-channel/grpc-channel.js';
import { GrpcApp, grpcError, type Handler } from '../helpers/grpc-app.js';

/** A bulk body as the delivery loop builds it (`deliverBulk`): two CloudEvents. */
const bulkBody = {
  id: 'bulk-1',
  type: 'com.dapr.event.sent.bulk',
  topic: 'orders',
  pubsubname: 'pubsub',
  metadata: { maxMessagesCount: '5' },
  entries: [
    {
      entryId: 'e1',
      event: {
        id: 'ce-1',
        source: 'app',
        type: 'com.dapr.event.sent',
        specversion: '1.0',
        datacontenttype: 'application/json',
        data: { n: 1 },
        topic: 'orders',
        pubsubname: 'pubsub',
        traceid: 't',
      },
      metadata: { k: 'v' },
      contentType: 'application/cloudevents+json',
    },
    {
      entryId: 'e2',
      event: { id: 'ce-2', source: 'app', type: 'com.dapr.event.sent', specversion: '1.0', datacontenttype: 'text/plain', data: 'two' },
      metadata: {},
      contentType: 'application/cloudevents+json',
    },
  ],
};
const bulkHeaders = { 'content-type': 'application/json', pubsubname: 'pubsub' };

describe('gRPC app channel: bulk delivery, binding answers', () => {
  const apps: GrpcApp[] = [];
  const channels: GrpcAppChannel[] = [];
  const open = async (handlers: Record<string, Handler>) => {
    const app = await GrpcApp.start(handlers);
    apps.push(app);
    const channel = new GrpcAppChannel({ host: '127.0.0.1', port: app.port, appId: 'a', appToken: 'tok' });
    channels.push(channel);
    return { app, channel };
  };
  after(async () => {
    for (const c of channels) c.close();
    for (const a of apps) await a.close();
  });

  it('a bulk delivery is OnBulkTopicEvent with each CloudEvent as a TopicEventCERequest; statuses come back as an HTTP app answers them, an entry left out or unknown omitted (RETRY)', async () => {
    const { app, channel } = await open({
      // e2 has a status no enum value names; a third entry, not delivered, is answered too.
      'AppCallback.OnBulkTopicEvent': () => ({
        statuses: [
          { entryId: 'e1', status: 2 },
          { entryId: 'e2', status: 7 },
          { entryId: 'nope', status: 0 },
        ],
      }),
    });
    const res = await channel.request('POST', '/bulk', Buffer.from(JSON.stringify(bulkBody)), bulkHeaders, 5000, { topic: 'orders' });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body.toString()), {
      statuses: [
        { entryId: 'e1', status: 'DROP' },
        { entryId: 'nope', status: 'SUCCESS' },
      ],
    });
    const [call] = app.of('AppCallback.OnBulkTopicEvent');
    const req = call!.request;
    assert.equal(req.id, 'bulk-1');
    assert.equal(req.type, 'com.dapr.event.sent.bulk');
    assert.equal(req.topic, 'orders');
    assert.equal(req.pubsubName, 'pubsub');
    assert.equal(req.path, '/bulk');
    assert.deepEqual(req.metadata, { maxMessagesCount: '5' });
    assert.equal(call!.metadata.pubsubname, 'pubsub');
    assert.equal(call!.metadata['dapr-api-token'], 'tok');
    const [e1, e2] = req.entries;
    assert.equal(e1.entryId, 'e1');
    assert.equal(e1.event, 'cloudEvent');
    assert.equal(e1.contentType, 'application/cloudevents+json');
    assert.deepEqual(e1.metadata, { k: 'v' });
    assert.equal(e1.cloudEvent.id, 'ce-1');
    assert.equal(e1.cloudEvent.specVersion, '1.0');
    assert.equal(e1.cloudEvent.dataContentType, 'application/json');
    assert.deepEqual(JSON.parse(Buffer.from(e1.cloudEvent.data).toString()), { n: 1 });
    assert.deepEqual(Object.keys(e1.cloudEvent.extensions.fields).sort(), ['pubsubname', 'topic', 'traceid']);
    assert.equal(Buffer.from(e2.cloudEvent.data).toString(), 'two');
  });

  it('a raw payload entry carries its bytes', async () => {
    const { app, channel } = await open({ 'AppCallback.OnBulkTopicEvent': () => ({ statuses: [{ entryId: 'r1', status: 0 }] }) });
    const body = {
      ...bulkBody,
      entries: [{ entryId: 'r1', event: Buffer.from([0, 1, 2, 255]).toString('base64'), metadata: {}, contentType: 'application/octet-stream' }],
    };
    const res = await channel.request('POST', '/bulk', Buffer.from(JSON.stringify(body)), bulkHeaders, 5000, { topic: 'orders' });
    assert.deepEqual(JSON.parse(res.body.toString()), { statuses: [{ entryId: 'r1', status: 'SUCCESS' }] });
    const e = app.of('AppCallback.OnBulkTopicEvent')[0]!.request.entries[0];
    assert.equal(e.event, 'bytes');
    assert.deepEqual([...e.bytes], [0, 1, 2, 255]);
    assert.equal(e.contentType, 'application/octet-stream');
  });

  it('an app serving only AppCallbackAlpha.OnBulkTopicEventAlpha1 gets the bulk there; the channel remembers it and asks OnBulkTopicEvent no more', async () => {
    const { app, channel } = await open({
      'AppCallback.OnBulkTopicEvent': () => Promise.reject(grpcError(status.UNIMPLEMENTED, 'not served')),
      'AppCallbackAlpha.OnBulkTopicEventAlpha1': () => ({ statuses: [{ entryId: 'e1', status: 1 }] }),
    });
    for (let i = 0; i < 3; i++) {
      const res = await channel.request('POST', '/bulk', Buffer.from(JSON.stringify(bulkBody)), bulkHeaders, 5000, { topic: 'orders' });
      assert.deepEqual(JSON.parse(res.body.toString()), { statuses: [{ entryId: 'e1', status: 'RETRY' }] });
    }
    assert.equal(app.of('AppCallbackAlpha.OnBulkTopicEventAlpha1').length, 3);
    assert.equal(app.of('AppCallback.OnBulkTopicEvent').length, 1, 'asked once, by the first delivery');
  });

  it('Unimplemented from both bulk methods answers 404 (every entry dropped); any other error rejects (every entry retried)', async () => {
    // No bulk method served at all (grpc-js answers Unimplemented for a method or service it does not serve).
    const none = await open({});
    const res = await none.channel.request('POST', '/bulk', Buffer.from(JSON.stringify(bulkBody)), bulkHeaders, 5000, { topic: 'orders' });
    assert.equal(res.status, 404);
    const failing = await open({ 'AppCallback.OnBulkTopicEvent': () => Promise.reject(grpcError(status.INTERNAL, 'boom')) });
    await assert.rejects(failing.channel.request('POST', '/bulk', Buffer.from(JSON.stringify(bulkBody)), bulkHeaders, 5000, { topic: 'orders' }), /boom/);
    assert.equal(failing.app.of('AppCallback.OnBulkTopicEvent').length, 1);
  });

  it("OnBindingEvent's answer: to / data / concurrency for the input-binding loop (none when the app asks nothing)", async () => {
    let answer: unknown = {};
    const { channel } = await open({ 'AppCallback.OnBindingEvent': () => answer });
    const ack = await channel.request('POST', '/orders', Buffer.from('{"n":1}'), { 'content-type': 'application/json' }, 5000);
    assert.equal(ack.status, 200);
    assert.equal(ack.binding, undefined);
    answer = { to: ['a', 'b'], data: Buffer.from('{"x":1}'), concurrency: 1, storeName: 's', states: [{ key: 'k', value: Buffer.from('1') }] };
    const res = await channel.request('POST', '/orders', Buffer.from('{"n":2}'), { 'content-type': 'application/json' }, 5000);
    assert.deepEqual(res.binding && { ...res.binding, data: Buffer.from(res.binding.data).toString() }, {
      to: ['a', 'b'],
      data: '{"x":1}',
      concurrency: 'parallel',
      storeName: 's',
      states: 1,
    });
    answer = { to: ['a'] };
    assert.equal((await channel.request('POST', '/orders', Buffer.from('{}'), {}, 5000)).binding?.concurrency, 'sequential');
  });
});
