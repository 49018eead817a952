/**
 * `SubscribeTopicEventsAlpha1` (the gRPC API's bidirectional streaming subscription) end to end, against one
 * real sidecar with in-memory brokers and `DAPR_API_TOKEN` set, driven by a raw @grpc/grpc-js client built
 * from the SDK's protos (`helpers/grpc.ts`): @dapr/dapr 3.18.0 has no streaming subscribe. Covers the initial
 * request and response, events as `TopicEventRequest`, SUCCESS / RETRY / DROP with a dead-letter topic, the
 * metadata API's STREAMING entries, daprd's initial-request errors and codes, and the server's stop ending the
 * stream. The durable cases (a broken stream, `kill -9`) are in `grpc-subscribe-stream-durability.test.ts`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ServiceError } from '@grpc/grpc-js';
import { Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { RawGrpc, richStatus, type TopicStream } from '../helpers/grpc.js';
import { waitUntil } from '../helpers/wait.js';

const TOKEN = 'stream-e2e-token';
const APP_ID = 'stream-e2e';
const run = randomUUID().slice(0, 8);

const Code = { UNKNOWN: 2, INVALID_ARGUMENT: 3, UNAUTHENTICATED: 16 } as const;

describe('gRPC SubscribeTopicEventsAlpha1 against mortar (in-memory brokers)', () => {
  let sc: Sidecar;
  let raw: RawGrpc;
  const open: TopicStream[] = [];
  const subscribe = (topic: string, extra: { pubsubName?: string; deadLetterTopic?: string; metadata?: Record<string, string> } = {}) => {
    const s = raw.subscribe({ pubsubName: 'pubsub', topic, ...extra }, TOKEN);
    open.push(s);
    return s;
  };
  const publish = (topic: string, data: unknown) =>
    raw.call('PublishEvent', { pubsubName: 'pubsub', topic, data: Buffer.from(JSON.stringify(data)), dataContentType: 'application/json' }, TOKEN);

  let dir: string;
  before(async () => {
    dir = tempDir('grpc-stream');
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    // This app may subscribe only to `allowed` on `scoped`.
    writeComponent(dir, 'scoped.yaml', 'scoped', 'pubsub.in-memory', { subscriptionScopes: `${APP_ID}=allowed` });
    sc = await Sidecar.start({ appId: APP_ID, resourcesPath: dir, env: { DAPR_API_TOKEN: TOKEN } });
    raw = new RawGrpc(sc.grpcPort);
  });
  after(async () => {
    for (const s of open) s.cancel();
    raw?.close();
    await sc?.stop();
  });

  it('answers the initial request with the initial response, lists the stream as a STREAMING subscription, and delivers each event as a TopicEventRequest until SUCCESS', async () => {
    const topic = `basic-${run}`;
    const s = subscribe(topic, { metadata: { k: 'v' } });
    await s.ready;
    const md = await raw.call<{ subscriptions: Array<{ pubsubName: string; topic: string; type: string; rules: { rules: Array<{ path: string }> } }> }>(
      'GetMetadata',
      {},
      TOKEN,
    );
    const listed = md.subscriptions.find((x) => x.topic === topic);
    assert.ok(listed, 'the stream is listed by GetMetadata');
    assert.equal(listed.pubsubName, 'pubsub');
    assert.equal(listed.type, 'STREAMING');
    assert.deepEqual(
      listed.rules.rules.map((r) => r.path),
      ['/'],
    );
    const http = (await sc.json('GET', '/v1.0/metadata', undefined, { 'dapr-api-token': TOKEN })).body as {
      subscriptions: Array<{ topic: string; type: string }>;
    };
    assert.equal(http.subscriptions.find((x) => x.topic === topic)?.type, 'STREAMING');

    for (let n = 1; n <= 3; n++) await publish(topic, { n });
    const got: Array<{ n: number }> = [];
    for (let n = 1; n <= 3; n++) {
      const ev = await s.next();
      assert.equal(ev.topic, topic);
      assert.equal(ev.pubsubName, 'pubsub');
      assert.equal(ev.path, '/');
      assert.equal(ev.type, 'com.dapr.event.sent');
      assert.equal(ev.source, APP_ID);
      assert.equal(ev.specVersion, '1.0');
      assert.equal(ev.dataContentType, 'application/json');
      assert.match(ev.id, /^[0-9a-f-]{36}$/);
      got.push(JSON.parse(ev.data.toString('utf8')));
      s.answer(ev.id, 'SUCCESS');
    }
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    // Acknowledged: nothing comes again.
    await assert.rejects(s.next(1500), /no event/);
  });

  it('RETRY: the event comes again (same id) until the client answers SUCCESS, then never again', async () => {
    const topic = `retry-${run}`;
    const s = subscribe(topic);
    await s.ready;
    await publish(topic, { retry: true });
    const first = await s.next();
    s.answer(first.id, 'RETRY');
    const second = await s.next();
    assert.equal(second.id, first.id);
    s.answer(second.id, 'RETRY');
    const third = await s.next();
    assert.equal(third.id, first.id);
    assert.deepEqual(JSON.parse(third.data.toString('utf8')), { retry: true });
    s.answer(third.id, 'SUCCESS');
    await assert.rejects(s.next(1500), /no event/);
  });

  it("DROP: the event goes to the initial request's dead-letter topic (delivered to a stream on it) and not again to the stream", async () => {
    const topic = `drop-${run}`;
    const dead = `dead-${run}`;
    const s = subscribe(topic, { deadLetterTopic: dead });
    const dl = subscribe(dead);
    await Promise.all([s.ready, dl.ready]);
    await publish(topic, { drop: 1 });
    const ev = await s.next();
    s.answer(ev.id, 'DROP');
    const letter = await dl.next();
    assert.equal(letter.id, ev.id, 'the dead letter is the original CloudEvent');
    assert.equal(letter.topic, dead);
    assert.deepEqual(JSON.parse(letter.data.toString('utf8')), { drop: 1 });
    dl.answer(letter.id, 'SUCCESS');
    await assert.rejects(s.next(1500), /no event/);
  });

  it('an unknown status number is retried, as daprd does', async () => {
    const topic = `unknown-status-${run}`;
    const s = subscribe(topic);
    await s.ready;
    await publish(topic, { x: 1 });
    const ev = await s.next();
    s.send({ eventProcessed: { id: ev.id, status: { status: 7 } } });
    const again = await s.next();
    assert.equal(again.id, ev.id);
    s.answer(again.id, 'SUCCESS');
  });

  it('two streams may subscribe to the same topic (daprd >= 1.16): they share the messages of the consumer group, each delivered once', async () => {
    const topic = `shared-${run}`;
    const a = subscribe(topic);
    const b = subscribe(topic);
    await Promise.all([a.ready, b.ready]);
    const seen: string[] = [];
    for (const s of [a, b])
      s.onEvent((ev) => {
        seen.push(JSON.parse(ev.data.toString('utf8')).i);
        s.answer(ev.id, 'SUCCESS');
      });
    for (let i = 0; i < 20; i++) await publish(topic, { i: `m${i}` });
    await waitUntil(() => seen.length >= 20, 'all 20 messages');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual([...seen].sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
  });

  it("initial-request errors end the stream with daprd's codes and messages", async () => {
    const fails = async (s: TopicStream): Promise<ServiceError> => {
      const err = await s.ended;
      assert.ok(err, 'the stream ended with an error');
      assert.equal(s.subscribed, false, 'no initial response was sent');
      return err;
    };
    let err = await fails(raw.subscribe({ pubsubName: '', topic: 'a' }, TOKEN));
    assert.equal(err.code, Code.UNKNOWN);
    assert.equal(err.details, 'pubsubName is required');
    err = await fails(raw.subscribe({ pubsubName: 'pubsub', topic: '' }, TOKEN));
    assert.equal(err.code, Code.UNKNOWN);
    assert.equal(err.details, 'topic is required');
    err = await fails(raw.subscribe({ pubsubName: 'notexist', topic: 'b' }, TOKEN));
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.equal(err.details, 'pubsub notexist is not found');
    const info = richStatus(err).details[0]?.errorInfo;
    assert.equal(info?.reason, 'DAPR_PUBSUB_NOT_FOUND');
    assert.equal(info?.domain, 'dapr.io');
    // Topic scopes: `scoped` lets this app subscribe to `allowed` only.
    err = await fails(raw.subscribe({ pubsubName: 'scoped', topic: 'other' }, TOKEN));
    assert.equal(err.code, Code.UNKNOWN);
    assert.equal(err.details, "failed to create subscription for scoped: subscription to topic 'other' on pubsub 'scoped' is not allowed");
    const allowed = subscribe('allowed', { pubsubName: 'scoped' });
    await allowed.ready;
    allowed.cancel();
    await allowed.ended;
    // The first message must be the initial request.
    const noInitial = raw.subscribe(undefined, TOKEN);
    noInitial.send({ eventProcessed: { id: 'x', status: { status: 'SUCCESS' } } });
    err = await fails(noInitial);
    assert.equal(err.code, Code.UNKNOWN);
    assert.equal(err.details, 'initial request is required');
    // Without the API token.
    err = await fails(raw.subscribe({ pubsubName: 'pubsub', topic: 'a' }));
    assert.equal(err.code, Code.UNAUTHENTICATED);
    // A second initial request ends a subscribed stream.
    const twice = raw.subscribe({ pubsubName: 'pubsub', topic: `twice-${run}` }, TOKEN);
    await twice.ready;
    twice.send({ initialRequest: { pubsubName: 'pubsub', topic: `twice-${run}` } });
    const dup = await twice.ended;
    assert.equal(dup?.code, Code.UNKNOWN);
    assert.equal(dup?.details, 'duplicate initial request received');
  });

  for (const how of ['cancels', 'half-closes'] as const) {
    it(`a stream the client ${how} is no longer listed, and its unanswered event goes to the next stream`, async () => {
      const topic = `handover-${how}-${run}`;
      const s = raw.subscribe({ pubsubName: 'pubsub', topic }, TOKEN);
      await s.ready;
      await publish(topic, { handover: 1 });
      const ev = await s.next();
      // Never answered.
      if (how === 'cancels') s.cancel();
      else {
        s.end();
        assert.equal(await s.ended, undefined, 'the server ends a half-closed stream with OK');
      }
      await waitUntil(async () => {
        const md = await raw.call<{ subscriptions: Array<{ topic: string }> }>('GetMetadata', {}, TOKEN);
        return !md.subscriptions.some((x) => x.topic === topic);
      }, 'the stream to be unlisted');
      const next = subscribe(topic);
      await next.ready;
      const again = await next.next();
      assert.equal(again.id, ev.id);
      next.answer(again.id, 'SUCCESS');
    });
  }

  it('a reloaded pub/sub component keeps its streams: the stream stays open and gets what is published to the new version', async () => {
    const topic = 'allowed';
    const s = subscribe(topic, { pubsubName: 'scoped' });
    await s.ready;
    // A changed resource (its scopes now name a second topic) brings up a new version of `scoped`.
    writeComponent(dir, 'scoped.yaml', 'scoped', 'pubsub.in-memory', { subscriptionScopes: `${APP_ID}=allowed,also` });
    await sc.waitForLog((l) => l.includes('component scoped (pubsub.in-memory) reloaded'));
    await waitUntil(async () => {
      await raw.call('PublishEvent', { pubsubName: 'scoped', topic, data: Buffer.from('{"after":"reload"}'), dataContentType: 'application/json' }, TOKEN);
      try {
        const ev = await s.next(300);
        s.answer(ev.id, 'SUCCESS');
        return JSON.parse(ev.data.toString('utf8')).after === 'reload';
      } catch {
        return false;
      }
    }, 'an event published after the reload on the open stream');
    assert.equal(s.subscribed, true);
  });

  it("the sidecar's stop ends an open stream with daprd's 'stream closed' and exits cleanly", async () => {
    const s = subscribe(`stop-${run}`);
    await s.ready;
    const code = await sc.stop();
    assert.equal(code, 0);
    const err = await s.ended;
    assert.equal(err?.code, Code.UNKNOWN);
    assert.equal(err?.details, 'stream closed');
  });
});
