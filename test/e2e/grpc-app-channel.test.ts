/**
 * The gRPC app channel (`--app-protocol grpc`) end to end: the official `@dapr/dapr` `DaprServer` over
 * `CommunicationProtocolEnum.GRPC` as the app, against a real `mortar` process. The sidecar reads the app's
 * subscriptions with `ListTopicSubscriptions`, delivers with `OnTopicEvent` (SUCCESS, RETRY, DROP to a
 * dead-letter topic), probes input bindings with `ListInputBindings` and delivers them with `OnBindingEvent`
 * (the `bindings.echo-fixture` test component), and sends the app token on every call; the scenarios of
 * pubsub-dapr.test.ts and bindings-dapr.test.ts. Publishing goes through the HTTP API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer } from '@dapr/dapr';
import { Sidecar, TEST_COMPONENTS, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const FIXTURE = 'bindings.echo-fixture';
const APP_TOKEN = `app-token-${randomUUID().slice(0, 8)}`;

describe('gRPC app channel: @dapr/dapr DaprServer over gRPC as the app of mortar', () => {
  let sc: Sidecar;
  let server: DaprServer;
  const got: Record<string, Array<{ data: unknown; headers: Record<string, string> }>> = {
    plain: [],
    big: [],
    fallback: [],
    retry: [],
    dropped: [],
    dead: [],
  };
  const received: unknown[] = [];
  let retries = 0;
  let throwsLeft = 2;

  const publish = async (topic: string, body: unknown) => {
    const r = await sc.json('POST', `/v1.0/publish/pubsub/${topic}`, body);
    assert.equal(r.status, 204, `publish to ${topic}: ${r.text}`);
  };

  before(async () => {
    const dir = tempDir('grpc-app-channel');
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    copyFileSync(join(TEST_COMPONENTS, `${FIXTURE}.wasm`), join(dir, `${FIXTURE}.wasm`));
    // No direction: the sidecar asks ListInputBindings whether the app wants `orders`. The route is for HTTP
    // only: over gRPC the binding's name is what OnBindingEvent carries.
    writeComponent(dir, 'orders.yaml', 'orders', FIXTURE, { events: '10', route: '/not-used-over-grpc' });
    const appPort = await freePort();
    sc = await Sidecar.start({
      appId: 'e2e-grpc-app',
      resourcesPath: dir,
      env: { APP_API_TOKEN: APP_TOKEN },
      args: ['--app-port', String(appPort), '--app-protocol', 'grpc'],
    });
    server = new DaprServer({
      serverHost: '127.0.0.1',
      serverPort: String(appPort),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      clientOptions: { daprHost: '127.0.0.1', daprPort: String(sc.grpcPort), communicationProtocol: CommunicationProtocolEnum.GRPC },
    });
    await server.pubsub.subscribe('pubsub', 'grpc-plain', async (data, headers) => {
      got.plain!.push({ data, headers: headers as Record<string, string> });
    });
    await server.pubsub.subscribeWithOptions('pubsub', 'grpc-routed', {
      route: { rules: [{ match: 'event.data.size == "big"', path: '/big' }], default: '/fallback' },
    });
    server.pubsub.subscribeToRoute('pubsub', 'grpc-routed', '/big', async (data) => {
      got.big!.push({ data, headers: {} });
    });
    server.pubsub.subscribeToRoute('pubsub', 'grpc-routed', '/fallback', async (data) => {
      got.fallback!.push({ data, headers: {} });
    });
    await server.pubsub.subscribe('pubsub', 'grpc-flaky', async (data) => {
      got.retry!.push({ data, headers: {} });
      retries++;
      return retries < 3 ? DaprPubSubStatusEnum.RETRY : DaprPubSubStatusEnum.SUCCESS;
    });
    await server.pubsub.subscribeWithOptions('pubsub', 'grpc-doomed', {
      deadLetterTopic: 'grpc-doomed-dlq',
      callback: async (data) => {
        got.dropped!.push({ data, headers: {} });
        return DaprPubSubStatusEnum.DROP;
      },
    });
    await server.pubsub.subscribe('pubsub', 'grpc-doomed-dlq', async (data) => {
      got.dead!.push({ data, headers: {} });
    });
    await server.binding.receive('orders', async (data: unknown) => {
      // The first two deliveries of event 4 fail in the callback: the SDK's OnBindingEvent answers an error.
      if ((data as { n?: number }).n === 4 && throwsLeft > 0) {
        throwsLeft--;
        throw new Error('not yet');
      }
      received.push(data);
    });
    await server.start();
    await sc.waitForLog((l) => l.includes('subscriptions established'));
  });
  // The sidecar first: the SDK's HTTP/2 server closes only once the sidecar's connection to it has ended.
  after(async () => {
    await sc?.stop();
    await server?.stop();
  });

  it('ListTopicSubscriptions feeds the subscriptions: the metadata API lists them with rules and dead-letter topic', async () => {
    const md = await sc.json('GET', '/v1.0/metadata');
    const subs = (md.body as { subscriptions: Array<{ topic: string; deadLetterTopic: string; rules: Array<{ match: string; path: string }> }> }).subscriptions;
    assert.deepEqual(subs.map((s) => s.topic).sort(), ['grpc-doomed', 'grpc-doomed-dlq', 'grpc-flaky', 'grpc-plain', 'grpc-routed']);
    const routed = subs.find((s) => s.topic === 'grpc-routed')!;
    assert.equal(routed.rules[0]!.match, 'event.data.size == "big"');
    assert.equal(subs.find((s) => s.topic === 'grpc-doomed')!.deadLetterTopic, 'grpc-doomed-dlq');
  });

  it('OnTopicEvent delivers a published JSON object, with pubsubname and the app token as gRPC metadata', async () => {
    const id = randomUUID();
    await publish('grpc-plain', { id, n: 1 });
    await waitUntil(() => got.plain!.some((g) => (g.data as { id?: string }).id === id), 'the plain event');
    const hit = got.plain!.find((g) => (g.data as { id?: string }).id === id)!;
    assert.deepEqual(hit.data, { id, n: 1 });
    assert.equal(hit.headers.pubsubname, 'pubsub');
    assert.equal(hit.headers['dapr-api-token'], APP_TOKEN);
  });

  it('routing rules over gRPC: the matching rule and the default route each get their event', async () => {
    await publish('grpc-routed', { size: 'big' });
    await publish('grpc-routed', { size: 'medium' });
    await waitUntil(() => got.big!.length === 1 && got.fallback!.length === 1, 'two routed events');
    assert.deepEqual(got.big![0]!.data, { size: 'big' });
    assert.deepEqual(got.fallback![0]!.data, { size: 'medium' });
  });

  it('RETRY gets the event delivered again until SUCCESS, then no more', async () => {
    await publish('grpc-flaky', { attempt: 'x' });
    await waitUntil(() => got.retry!.length >= 3, 'three deliveries', 5000);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(got.retry!.length, 3, 'no delivery after SUCCESS');
    for (const g of got.retry!) assert.deepEqual(g.data, { attempt: 'x' });
  });

  it('DROP is not redelivered and sends the event to the dead-letter topic', async () => {
    await publish('grpc-doomed', { doomed: true });
    await waitUntil(() => got.dead!.length === 1, 'the dead letter');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got.dropped!.length, 1, 'delivered once');
    assert.deepEqual(got.dead![0]!.data, { doomed: true });
  });

  it('OnBindingEvent delivers every input binding event to binding.receive, a failed call retried, none lost', async () => {
    await waitUntil(() => new Set(received.map((d) => (d as { n: number }).n)).size === 10, 'ten distinct events', 15_000);
    const ns = [...new Set(received.map((d) => (d as { n: number }).n))].sort((a, b) => a - b);
    assert.deepEqual(
      ns,
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    assert.equal(throwsLeft, 0, 'event 4 failed twice first');
  });
});

describe('gRPC app channel: app health checks over AppCallbackHealthCheck', () => {
  let sc: Sidecar;
  let server: DaprServer | undefined;
  const got: unknown[] = [];
  const sessions = new Set<import('node:http2').ServerHttp2Session>();

  before(async () => {
    const dir = tempDir('grpc-app-health');
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    const appPort = await freePort();
    sc = await Sidecar.start({
      appId: 'e2e-grpc-health',
      resourcesPath: dir,
      args: [
        '--app-port',
        String(appPort),
        '--app-protocol',
        'grpc',
        '--enable-app-health-check',
        '--app-health-probe-interval',
        '1',
        '--app-health-probe-timeout',
        '300',
        '--app-health-threshold',
        '2',
      ],
    });
    server = new DaprServer({
      serverHost: '127.0.0.1',
      serverPort: String(appPort),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      clientOptions: { daprHost: '127.0.0.1', daprPort: String(sc.grpcPort), communicationProtocol: CommunicationProtocolEnum.GRPC },
    });
    await server.pubsub.subscribe('pubsub', 'grpc-health', async (data) => {
      got.push(data);
    });
    await server.start();
    // The SDK's HTTP/2 server (node:http2), to end its sessions when the test stops the app.
    const h2 = (server.daprServer as unknown as { getServer(): import('node:http2').Http2Server }).getServer();
    h2.on('session', (s) => sessions.add(s));
  });
  after(async () => {
    await sc?.stop();
    await server?.stop();
  });

  it('HealthCheck answering makes the app healthy (subscriptions read, events delivered); a stopped app turns unhealthy', async () => {
    await sc.waitForLog((l) => l.includes('app is healthy'));
    await sc.waitForLog((l) => l.includes('subscriptions established'));
    const r = await sc.json('POST', '/v1.0/publish/pubsub/grpc-health', { ok: 1 });
    assert.equal(r.status, 204);
    await waitUntil(() => got.length === 1, 'the event');
    assert.deepEqual(got[0], { ok: 1 });
    const stopped = server!.stop();
    server = undefined;
    for (const s of sessions) s.destroy();
    await stopped;
    await sc.waitForLog((l) => l.includes('app is unhealthy'), 8000);
  });
});
