/**
 * A broker message with a binary content type reaches a (non-raw) subscriber as a CloudEvent rebuilt from
 * the message's `ce-*` metadata (spec 1.14; contrib `FromBinary`), here through real Redis Streams.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';

describe('binary broker messages with ce-* metadata (pubsub.redis)', () => {
  const run = randomUUID().slice(0, 8);
  const topic = `binary-${run}`;
  let app: SubscriberApp;
  let sc: Sidecar;

  before(async () => {
    const dir = tempDir('binary');
    writeComponent(dir, 'broker.yaml', 'broker', 'pubsub.redis', { redisHost: REDIS_HOST, consumerID: `binary-${run}` });
    app = await SubscriberApp.start([{ pubsubname: 'broker', topic, route: '/in' }]);
    sc = await Sidecar.start({ appId: `binary-${run}`, resourcesPath: dir, args: ['--app-port', String(app.port)] });
    await sc.waitForLog((l) => l.includes('subscribed to broker'), 20_000);
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  it('the event takes id, type, source and subject from ce-* metadata and carries the bytes as data_base64', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 10, 13]);
    const q = new URLSearchParams({
      'metadata.rawPayload': 'true',
      'metadata.ce-id': `evt-${run}`,
      'metadata.ce-type': 'com.example.reading',
      'metadata.ce-source': 'sensor-7',
      'metadata.ce-subject': 'room-1',
    });
    const r = await sc.fetch(`/v1.0/publish/broker/${topic}?${q}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    assert.equal(r.status, 204, await r.text());
    await app.until(() => app.deliveries.some((d) => d.event?.id === `evt-${run}`), 15_000, 'the binary message');
    const d = app.deliveries.find((x) => x.event?.id === `evt-${run}`)!;
    assert.equal(d.path, '/in');
    assert.match(String(d.headers['content-type']), /^application\/cloudevents\+json/);
    assert.equal(d.headers.pubsubname, 'broker');
    const ev = d.event!;
    assert.equal(ev.specversion, '1.0');
    assert.equal(ev.type, 'com.example.reading');
    assert.equal(ev.source, 'sensor-7');
    assert.equal(ev.subject, 'room-1');
    assert.equal(ev.datacontenttype, 'application/octet-stream');
    assert.equal(ev.topic, topic);
    assert.equal(ev.pubsubname, 'broker');
    assert.deepEqual(Buffer.from(String(ev.data_base64), 'base64'), bytes);
    assert.equal(ev.data, undefined, 'binary data travels only as data_base64');
  });
});
