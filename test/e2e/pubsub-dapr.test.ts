/**
 * The official `@dapr/dapr` SDK end to end: `DaprServer` as the subscriber app and `DaprClient` as the
 * publisher, against a real `mortar` process on the embedded default `pubsub`, once per app protocol: over
 * HTTP (`/dapr/subscribe`, `POST <route>`) and over gRPC (`--app-protocol grpc`: `ListTopicSubscriptions`,
 * `OnTopicEvent`, `OnBulkTopicEventAlpha1`), with the same assertions. Programmatic subscriptions with routing
 * rules (CEL), dead letter, RETRY, bulk subscribe, the app token and message metadata on every delivery, as
 * the js-sdk's own e2e tests check them; then declarative subscriptions (with rules, raw payload, and scoped to
 * another app) to a `DaprServer` whose programmatic ones the sidecar is told not to read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient, DaprPubSubStatusEnum, DaprServer } from '@dapr/dapr';
import { Sidecar, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const PROTOCOLS = [
  { name: 'HTTP', protocol: CommunicationProtocolEnum.HTTP, args: [] as string[] },
  { name: 'gRPC', protocol: CommunicationProtocolEnum.GRPC, args: ['--app-protocol', 'grpc'] },
];

/** A DaprServer as the app on `appPort` and a DaprClient, both speaking `protocol` to the sidecar. */
function sdk(protocol: CommunicationProtocolEnum, sc: Sidecar, appPort: number) {
  const clientOptions = {
    daprHost: '127.0.0.1',
    daprPort: String(protocol === CommunicationProtocolEnum.GRPC ? sc.grpcPort : sc.port),
    communicationProtocol: protocol,
  };
  return {
    server: new DaprServer({ serverHost: '127.0.0.1', serverPort: String(appPort), communicationProtocol: protocol, clientOptions }),
    client: new DaprClient(clientOptions),
  };
}

for (const { name, protocol, args } of PROTOCOLS) {
  describe(`@dapr/dapr DaprServer + DaprClient pub/sub against mortar, app protocol ${name}`, () => {
    let sc: Sidecar;
    let server: DaprServer;
    let client: DaprClient;
    const appToken = `app-token-${randomUUID().slice(0, 8)}`;
    const got: Record<string, Array<{ data: unknown; headers: unknown }>> = {
      plain: [],
      big: [],
      small: [],
      fallback: [],
      retry: [],
      dead: [],
      dropped: [],
      bulk: [],
    };
    let retries = 0;
    let bulkRefused = false;

    before(async () => {
      const appPort = await freePort();
      sc = await Sidecar.start({ appId: `e2e-pubsub-${name.toLowerCase()}`, env: { APP_API_TOKEN: appToken }, args: ['--app-port', String(appPort), ...args] });
      ({ server, client } = sdk(protocol, sc, appPort));
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
      // Each entry of a batch goes to the callback; entry 3 is refused (RETRY) once and must come back.
      await server.pubsub.subscribeBulk(
        'pubsub',
        'bulk',
        async (data, headers) => {
          got.bulk!.push({ data, headers });
          if ((data as { k?: number }).k === 3 && !bulkRefused) {
            bulkRefused = true;
            return DaprPubSubStatusEnum.RETRY;
          }
          return DaprPubSubStatusEnum.SUCCESS;
        },
        { maxMessagesCount: 5, maxAwaitDurationMs: 500 },
      );
      await server.start();
      await client.start();
      await sc.waitForLog((l) => l.includes('subscriptions established'));
    });
    // The sidecar first: the SDK's HTTP/2 server closes only once the sidecar's connection to it has ended.
    after(async () => {
      await sc?.stop();
      await server?.stop();
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

    it("the app token (APP_API_TOKEN) and the message's metadata reach the app with each event", async () => {
      const id = randomUUID();
      const r = await client.pubsub.publish('pubsub', 'plain', { id }, { metadata: { 'x-order': '7' } });
      assert.equal(r.error, undefined);
      await waitUntil(() => got.plain!.some((g) => (g.data as { id?: string }).id === id), 'the event');
      const headers = got.plain!.find((g) => (g.data as { id?: string }).id === id)!.headers as Record<string, string>;
      assert.equal(headers['dapr-api-token'], appToken);
      assert.equal(headers['x-order'], '7');
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
      for (const g of got.retry!) assert.deepEqual(g.data, { attempt: 'x' });
    });

    it('DROP sends the event to the dead-letter topic and is not redelivered', async () => {
      await client.pubsub.publish('pubsub', 'doomed', { doomed: true });
      await waitUntil(() => got.dead!.length === 1, 'the dead letter');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(got.dropped!.length, 1);
      assert.deepEqual(got.dead![0]!.data, { doomed: true });
    });

    it('bulk subscribe: every entry of a bulk publish reaches the callback; an entry answered RETRY comes back, the others once each', async () => {
      const messages = Array.from({ length: 12 }, (_, k) => ({ k }));
      const r = await client.pubsub.publishBulk('pubsub', 'bulk', messages);
      assert.deepEqual(r.failedMessages, []);
      const ks = () => got.bulk!.map((g) => (g.data as { k: number }).k);
      await waitUntil(() => new Set(ks()).size === 12 && ks().filter((k) => k === 3).length === 2, 'twelve entries, entry 3 twice', 10_000);
      await new Promise((r) => setTimeout(r, 700));
      assert.deepEqual(
        [...ks()].sort((a, b) => a - b),
        [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      );
      assert.ok(bulkRefused);
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
      assert.deepEqual(subs.map((s) => s.topic).sort(), ['bulk', 'doomed', 'doomed-dlq', 'flaky', 'plain', 'routed']);
    });
  });

  describe(`declarative subscriptions to a DaprServer, app protocol ${name}`, () => {
    let sc: Sidecar;
    let server: DaprServer;
    let client: DaprClient;
    const got: Record<string, unknown[]> = { big: [], fallback: [], scoped: [], raw: [] };
    const appId = `e2e-decl-${name.toLowerCase()}`;

    before(async () => {
      const dir = tempDir('pubsub-decl');
      writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
      // The paths the SDK serves for its routes (`<pubsub>--<topic>--<route>`), given with and without the leading `/`.
      writeFileSync(
        join(dir, 'sub-routed.yaml'),
        `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: decl-routed
spec:
  pubsubname: pubsub
  topic: decl
  routes:
    rules:
      - match: event.data.size == "big"
        path: /pubsub--decl--big
    default: pubsub--decl--fallback
`,
      );
      writeFileSync(
        join(dir, 'sub-scoped.yaml'),
        `apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: decl-scoped
spec:
  pubsubname: pubsub
  topic: decl-scoped
  route: /pubsub--decl-scoped--default
scopes:
  - another-app
`,
      );
      // Raw payload from a declarative subscription: the SDK's own (programmatic) rawPayload metadata arrives
      // JSON-quoted (`"\"true\""`, subscriptionManager.generateDaprSubscription), which daprd does not read as true.
      writeFileSync(
        join(dir, 'sub-raw.yaml'),
        `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: decl-raw
spec:
  pubsubname: pubsub
  topic: decl-raw
  routes:
    default: /pubsub--decl-raw--default
  metadata:
    rawPayload: "true"
`,
      );
      const appPort = await freePort();
      // The app's own (programmatic) subscriptions are not read: only the declarative ones apply.
      sc = await Sidecar.start({ appId, resourcesPath: dir, args: ['--app-port', String(appPort), '--disable-init-endpoints', 'subscribe', ...args] });
      ({ server, client } = sdk(protocol, sc, appPort));
      // The SDK routes an event by its path only to routes it registered, so it registers the same ones.
      await server.pubsub.subscribeWithOptions('pubsub', 'decl', { route: { rules: [{ match: 'unused', path: '/big' }], default: '/fallback' } });
      server.pubsub.subscribeToRoute('pubsub', 'decl', '/big', async (data) => {
        got.big!.push(data);
      });
      server.pubsub.subscribeToRoute('pubsub', 'decl', '/fallback', async (data) => {
        got.fallback!.push(data);
      });
      await server.pubsub.subscribe('pubsub', 'decl-scoped', async (data) => {
        got.scoped!.push(data);
      });
      await server.pubsub.subscribe('pubsub', 'decl-raw', async (data) => {
        got.raw!.push(data);
      });
      await server.start();
      await client.start();
      await sc.waitForLog((l) => l.includes('subscriptions established'));
    });
    after(async () => {
      await sc?.stop();
      await server?.stop();
    });

    it('a declarative subscription with routing rules delivers each event to its matching path, else the default', async () => {
      await client.pubsub.publish('pubsub', 'decl', { size: 'big' });
      await client.pubsub.publish('pubsub', 'decl', { size: 'medium' });
      await waitUntil(() => got.big!.length === 1 && got.fallback!.length === 1, 'two routed events');
      assert.deepEqual(got.big, [{ size: 'big' }]);
      assert.deepEqual(got.fallback, [{ size: 'medium' }]);
    });

    it('raw payload: a subscription with rawPayload gets the bytes as published, JSON or not (no CloudEvent is parsed from them)', async () => {
      const r = await client.pubsub.publish('pubsub', 'decl-raw', { hello: 'raw' }, { metadata: { rawPayload: 'true' } });
      assert.equal(r.error, undefined);
      const t = await client.pubsub.publish('pubsub', 'decl-raw', 'not json', { contentType: 'text/plain', metadata: { rawPayload: 'true' } });
      assert.equal(t.error, undefined);
      await waitUntil(() => got.raw!.length === 2, 'the two raw events');
      assert.deepEqual(got.raw, [{ hello: 'raw' }, 'not json']);
    });

    it('a declarative subscription scoped to another app is neither listed nor delivered', async () => {
      const md = (await sc.json('GET', '/v1.0/metadata')).body as { subscriptions: Array<{ topic: string; rules: Array<{ match: string; path: string }> }> };
      assert.deepEqual(md.subscriptions.map((s) => s.topic).sort(), ['decl', 'decl-raw']);
      assert.equal(md.subscriptions.find((s) => s.topic === 'decl')!.rules[0]!.match, 'event.data.size == "big"');
      await client.pubsub.publish('pubsub', 'decl-scoped', { n: 1 });
      await client.pubsub.publish('pubsub', 'decl', { size: 'big', after: true });
      await waitUntil(() => got.big!.length === 2, 'the later event');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(got.scoped, []);
    });
  });
}
