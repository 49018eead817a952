/**
 * The official `@dapr/dapr` SDK end to end: `DaprServer` (HTTP) as the subscriber app and `DaprClient` as the
 * publisher, against a real `mortar` process on the embedded default `pubsub`. Routing rules (CEL), dead
 * letter, RETRY and raw payload, as the js-sdk's own e2e tests check them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CommunicationProtocolEnum, DaprClient, DaprPubSubStatusEnum, DaprServer } from '@dapr/dapr';
import { Sidecar, freePort } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

describe('@dapr/dapr DaprServer + DaprClient pub/sub against mortar', () => {
  let sc: Sidecar;
  let server: DaprServer;
  let client: DaprClient;
  const got: Record<string, Array<{ data: unknown; headers: unknown }>> = {
    plain: [],
    big: [],
    small: [],
    fallback: [],
    retry: [],
    dead: [],
    raw: [],
    dropped: [],
  };
  let retries = 0;

  before(async () => {
    const appPort = await freePort();
    sc = await Sidecar.start({ appId: 'e2e-pubsub', args: ['--app-port', String(appPort)] });
    const clientOptions = { daprHost: '127.0.0.1', daprPort: String(sc.port), communicationProtocol: CommunicationProtocolEnum.HTTP };
    server = new DaprServer({ serverHost: '127.0.0.1', serverPort: String(appPort), communicationProtocol: CommunicationProtocolEnum.HTTP, clientOptions });
    await server.pubsub.subscribe('pubsub', 'plain', async (data, headers) => {
      got.plain!.push({ data, headers });
    });
    await server.pubsub.subscribeWithOptions('pubsub', 'routed', {
      route: {
        rules: [
          { match: 'event.data.size == "big"', path: '/big' },
          { match: 'event.data.size == "small"', path: '/small' },
        ],
        default: '/fallback',
      },
    });
    server.pubsub.subscribeToRoute('pubsub', 'routed', '/big', async (data) => {
      got.big!.push({ data, headers: {} });
    });
    server.pubsub.subscribeToRoute('pubsub', 'routed', '/small', async (data) => {
      got.small!.push({ data, headers: {} });
    });
    server.pubsub.subscribeToRoute('pubsub', 'routed', '/fallback', async (data) => {
      got.fallback!.push({ data, headers: {} });
    });
    await server.pubsub.subscribe('pubsub', 'flaky', async (data) => {
      got.retry!.push({ data, headers: {} });
      retries++;
      return retries < 3 ? DaprPubSubStatusEnum.RETRY : DaprPubSubStatusEnum.SUCCESS;
    });
    await server.pubsub.subscribeWithOptions('pubsub', 'doomed', {
      deadLetterTopic: 'doomed-dlq',
      callback: async (data) => {
        got.dropped!.push({ data, headers: {} });
        return DaprPubSubStatusEnum.DROP;
      },
    });
    // The dead-letter topic is an ordinary topic: the app subscribes to it to see what was dropped.
    await server.pubsub.subscribe('pubsub', 'doomed-dlq', async (data) => {
      got.dead!.push({ data, headers: {} });
    });
    await server.pubsub.subscribe(
      'pubsub',
      'raw',
      async (data) => {
        got.raw!.push({ data, headers: {} });
      },
      '',
      { rawPayload: 'true' },
    );
    await server.start();
    client = new DaprClient(clientOptions);
    await client.start();
    await sc.waitForLog((l) => l.includes('subscribed to pubsub'));
  });
  after(async () => {
    await server?.stop();
    await sc?.stop();
  });

  it('publish and receive a JSON object, with the pubsubname header', async () => {
    const id = randomUUID();
    const r = await client.pubsub.publish('pubsub', 'plain', { id, n: 1 });
    assert.equal(r.error, undefined);
    await waitUntil(() => got.plain!.some((g) => (g.data as { id?: string }).id === id), 'the plain event');
    const hit = got.plain!.find((g) => (g.data as { id?: string }).id === id)!;
    assert.deepEqual(hit.data, { id, n: 1 });
    assert.equal((hit.headers as Record<string, string>).pubsubname, 'pubsub');
  });

  it('routing rules send each event to the first matching path, else the default', async () => {
    await client.pubsub.publish('pubsub', 'routed', { size: 'big' });
    await client.pubsub.publish('pubsub', 'routed', { size: 'small' });
    await client.pubsub.publish('pubsub', 'routed', { size: 'medium' });
    await waitUntil(() => got.big!.length === 1 && got.small!.length === 1 && got.fallback!.length === 1, 'three routed events');
    assert.deepEqual(got.big![0]!.data, { size: 'big' });
    assert.deepEqual(got.small![0]!.data, { size: 'small' });
    assert.deepEqual(got.fallback![0]!.data, { size: 'medium' });
  });

  it('RETRY gets the event delivered again, three deliveries within about a second', async () => {
    const t0 = Date.now();
    await client.pubsub.publish('pubsub', 'flaky', { attempt: 'x' });
    await waitUntil(() => got.retry!.length >= 3, 'three deliveries', 5000);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0}ms`);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(got.retry!.length, 3, 'no delivery after SUCCESS');
  });

  it('DROP sends the event to the dead-letter topic', async () => {
    await client.pubsub.publish('pubsub', 'doomed', { doomed: true });
    await waitUntil(() => got.dead!.length === 1, 'the dead letter');
    assert.equal(got.dropped!.length, 1);
    assert.deepEqual(got.dead![0]!.data, { doomed: true });
  });

  it('raw payload: a subscription with rawPayload gets the bytes as published', async () => {
    const r = await client.pubsub.publish('pubsub', 'raw', { hello: 'raw' }, { metadata: { rawPayload: 'true' } });
    assert.equal(r.error, undefined);
    await waitUntil(() => got.raw!.length === 1, 'the raw event');
    assert.deepEqual(got.raw![0]!.data, { hello: 'raw' });
  });

  it("the metadata API lists the app's subscriptions with rules and dead-letter topic", async () => {
    const md = await sc.json('GET', '/v1.0/metadata');
    const subs = (md.body as { subscriptions: unknown }).subscriptions as Array<{
      pubsubname: string;
      topic: string;
      deadLetterTopic: string;
      rules: Array<{ match: string; path: string }>;
    }>;
    const routed = subs.find((s) => s.topic === 'routed')!;
    assert.equal(routed.pubsubname, 'pubsub');
    assert.deepEqual(
      routed.rules.map((r) => r.path),
      ['/pubsub--routed--big', '/pubsub--routed--small', '/pubsub--routed--fallback'],
    );
    assert.equal(routed.rules[0]!.match, 'event.data.size == "big"');
    assert.equal(subs.find((s) => s.topic === 'doomed')!.deadLetterTopic, 'doomed-dlq');
  });
});
