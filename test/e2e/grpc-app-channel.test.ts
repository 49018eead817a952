/**
 * The gRPC app channel (`--app-protocol grpc`) end to end, for what only gRPC has. The scenarios both app
 * protocols share (subscriptions with routing, RETRY / DROP, dead letter, raw payload, bulk subscribe through
 * the SDK's `OnBulkTopicEventAlpha1`, input bindings, app token and metadata) run over both in
 * pubsub-dapr.test.ts and bindings-dapr.test.ts. Here, against a real `mortar` process:
 *
 * - a raw @grpc/grpc-js app (test/helpers/grpc-app.ts) serving what the official `DaprServer` does not:
 *   `AppCallback.OnBulkTopicEvent` (per-entry statuses, an entry left out retried, DROP to the dead-letter
 *   topic), an `OnBindingEvent` answer with `to` / `data` / `concurrency` (sent to output bindings as daprd
 *   sends them) and `states` (not saved, as daprd), the app token on every call, health it can flip (paused
 *   deliveries resume, none lost, as app-health.test.ts over HTTP), errors matched against a retry policy's
 *   `matching.gRPCStatusCodes` (as resiliency.test.ts matches HTTP statuses);
 * - the official `DaprServer` over gRPC for app health over `AppCallbackHealthCheck`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { CommunicationProtocolEnum, DaprServer } from '@dapr/dapr';
import { Sidecar, TEST_COMPONENTS, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { GrpcApp, type Handler, grpcError } from '../helpers/grpc-app.js';
import { waitUntil } from '../helpers/wait.js';

const FIXTURE = 'bindings.echo-fixture';
const APP_TOKEN = `app-token-${randomUUID().slice(0, 8)}`;
/** TopicEventResponse statuses, BindingEventResponse concurrency. */
const SUCCESS = 0;
const DROP = 2;
const SEQUENTIAL = 0;
const PARALLEL = 1;

/** The files a `bindings.localstorage` binding wrote into `dir`, as text. */
const filesIn = (dir: string) => readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'));

/**
 * The subscriptions of the bulk tests: `bulk` bulk-subscribed (route `bulk`), its dead letters to
 * `deadLetterTopic` (route `dlq`).
 */
const bulkWithDeadLetter = (deadLetterTopic: string, maxMessagesCount: number, maxAwaitDurationMs: number) => ({
  subscriptions: [
    {
      pubsubName: 'pubsub',
      topic: 'bulk',
      routes: { default: 'bulk' },
      deadLetterTopic,
      bulkSubscribe: { enabled: true, maxMessagesCount, maxAwaitDurationMs },
    },
    { pubsubName: 'pubsub', topic: deadLetterTopic, routes: { default: 'dlq' } },
  ],
});

/**
 * Starts a raw gRPC app serving `handlers` and a sidecar calling it (`--app-protocol grpc`, then `args`);
 * resolves once the sidecar established the app's subscriptions (within `readyMs`). On failure both are
 * stopped.
 */
async function startWithGrpcApp(
  handlers: Record<string, Handler>,
  opts: { appId: string; resourcesPath: string; env?: Record<string, string>; args?: string[]; readyMs?: number },
): Promise<{ app: GrpcApp; sc: Sidecar }> {
  const appPort = await freePort();
  const app = await GrpcApp.start(handlers, appPort);
  let sc: Sidecar | undefined;
  try {
    sc = await Sidecar.start({
      appId: opts.appId,
      resourcesPath: opts.resourcesPath,
      ...(opts.env ? { env: opts.env } : {}),
      args: ['--app-port', String(appPort), '--app-protocol', 'grpc', ...(opts.args ?? [])],
    });
    await sc.waitForLog((l) => l.includes('subscriptions established'), opts.readyMs);
    return { app, sc };
  } catch (err) {
    await sc?.stop();
    await app.close();
    throw err;
  }
}

describe('gRPC app channel: a raw @grpc/grpc-js app (OnBulkTopicEvent, OnBindingEvent answers, the app token on every call)', () => {
  let sc: Sidecar;
  let app: GrpcApp;
  const out1 = tempDir('grpc-out1');
  const out2 = tempDir('grpc-out2');
  /** Entry events (the `n` of each) per bulk call, in arrival order. */
  const batches: number[][] = [];
  const succeeded = new Set<number>();
  let leftOut: number | undefined;
  let dropped: number | undefined;
  const dead: unknown[] = [];

  before(async () => {
    const dir = tempDir('grpc-raw-app');
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    copyFileSync(join(TEST_COMPONENTS, `${FIXTURE}.wasm`), join(dir, `${FIXTURE}.wasm`));
    // The route is for HTTP only: over gRPC the binding's name is what OnBindingEvent carries.
    writeComponent(dir, 'orders.yaml', 'orders', FIXTURE, { events: '2', route: '/not-used-over-grpc' });
    writeComponent(dir, 'out1.yaml', 'out1', 'bindings.localstorage', { rootPath: out1 });
    writeComponent(dir, 'out2.yaml', 'out2', 'bindings.localstorage', { rootPath: out2 });
    ({ app, sc } = await startWithGrpcApp(
      {
        'AppCallbackHealthCheck.HealthCheck': () => ({}),
        'AppCallback.ListTopicSubscriptions': () => bulkWithDeadLetter('bulk-dlq', 5, 500),
        'AppCallback.OnTopicEvent': (req: { data: Uint8Array }) => {
          dead.push(JSON.parse(Buffer.from(req.data).toString()));
          return { status: SUCCESS };
        },
        // The first entry of the first batch is left out of the answer (RETRY); the second is dropped.
        'AppCallback.OnBulkTopicEvent': (req: { entries: Array<{ entryId: string; cloudEvent: { data: Uint8Array } }> }) => {
          const ns = req.entries.map((e) => (JSON.parse(Buffer.from(e.cloudEvent.data).toString()) as { n: number }).n);
          batches.push(ns);
          const statuses: Array<{ entryId: string; status: number }> = [];
          req.entries.forEach((e, i) => {
            if (leftOut === undefined && i === 0) leftOut = ns[i];
            else if (dropped === undefined && i === 1) {
              dropped = ns[i];
              statuses.push({ entryId: e.entryId, status: DROP });
            } else {
              succeeded.add(ns[i]!);
              statuses.push({ entryId: e.entryId, status: SUCCESS });
            }
          });
          return { statuses };
        },
        'AppCallback.ListInputBindings': () => ({ bindings: ['orders'] }),
        // Event 1: SEQUENTIAL to out1, then `orders` (which has no operation create: fails), then out2, which
        // is then not sent; it also answers states. Event 2: PARALLEL to `orders` and out2.
        'AppCallback.OnBindingEvent': (req: { name: string; data: Uint8Array }) => {
          const { n } = JSON.parse(Buffer.from(req.data).toString()) as { n: number };
          const data = Buffer.from(JSON.stringify({ z: n, a: '<&>', n }));
          if (n === 1) {
            return { to: ['out1', 'orders', 'out2'], data, concurrency: SEQUENTIAL, storeName: 'nowhere', states: [{ key: 'k', value: Buffer.from('"v"') }] };
          }
          return { to: ['orders', 'out2'], data, concurrency: PARALLEL };
        },
      },
      {
        appId: 'e2e-grpc-raw-app',
        resourcesPath: dir,
        env: { APP_API_TOKEN: APP_TOKEN },
        args: ['--enable-app-health-check', '--app-health-probe-interval', '1'],
      },
    ));
  });
  after(async () => {
    if (process.env.MORTAR_TEST_DEBUG) console.log(sc?.logs.join('\n'));
    await sc?.stop();
    await app?.close();
  });

  it('bulk subscribe over OnBulkTopicEvent: batches of at most 5; an entry left out of the answer comes back, a DROP goes to the dead-letter topic, the rest once each', async () => {
    const entries = Array.from({ length: 12 }, (_, k) => ({ entryId: String(k), event: { n: k }, contentType: 'application/json' }));
    const r = await sc.json('POST', '/v1.0-alpha1/publish/bulk/pubsub/bulk', entries);
    assert.equal(r.status, 204, r.text);
    await waitUntil(() => dead.length === 1 && succeeded.size === 11, 'eleven entries taken and one dead letter', 15_000);
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(
      batches.every((b) => b.length <= 5),
      `batches: ${JSON.stringify(batches)}`,
    );
    assert.deepEqual(
      [...succeeded].sort((a, b) => a - b),
      Array.from({ length: 12 }, (_, k) => k).filter((k) => k !== dropped),
    );
    assert.equal(batches.flat().filter((n) => n === leftOut).length, 2, 'the entry left out was delivered twice');
    assert.equal(batches.flat().filter((n) => n === dropped).length, 1, 'the dropped entry was not redelivered');
    assert.deepEqual(dead, [{ n: dropped }]);
    const call = app.of('AppCallback.OnBulkTopicEvent')[0]!;
    assert.equal(call.request.type, 'com.dapr.event.sent.bulk');
    assert.equal(call.request.topic, 'bulk');
    assert.equal(call.request.pubsubName, 'pubsub');
    assert.equal(call.metadata.pubsubname, 'pubsub');
  });

  it("OnBindingEvent's answer: its data, re-marshalled as Go does, goes to each output binding of `to`; SEQUENTIAL stops at the first failure, PARALLEL does not; the events are acknowledged either way", async () => {
    await waitUntil(() => filesIn(out2).length === 1, 'the parallel send to out2', 15_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(filesIn(out1), ['{"a":"\\u003c\\u0026\\u003e","n":1,"z":1}']);
    assert.deepEqual(filesIn(out2), ['{"a":"\\u003c\\u0026\\u003e","n":2,"z":2}'], 'out2 got event 2 only: the sequential sends of event 1 stopped at orders');
    const calls = app.of('AppCallback.OnBindingEvent');
    assert.deepEqual(
      calls.map((c) => c.request.name),
      ['orders', 'orders'],
    );
    const stats = await sc.json('POST', '/v1.0/bindings/orders', { operation: 'stats' });
    assert.deepEqual((stats.body as { ackedEvents: number[] }).ackedEvents.sort(), [1, 2]);
    assert.ok(sc.logs.some((l) => l.includes('error executing app response') && l.includes('orders')));
  });

  it('the states of an OnBindingEvent answer are not saved (daprd stopped saving them in 1.3): a warning says so, once', () => {
    const lines = sc.logs.filter((l) => l.includes("answered 1 states for store 'nowhere'; not saved"));
    assert.equal(lines.length, 1, sc.logs.slice(-20).join('\n'));
  });

  it('every call to the app carries the app token as dapr-api-token metadata', () => {
    const methods = new Set(app.calls.map((c) => c.method));
    for (const m of ['ListTopicSubscriptions', 'OnBulkTopicEvent', 'OnTopicEvent', 'ListInputBindings', 'OnBindingEvent'])
      assert.ok(methods.has(`AppCallback.${m}`), `${m} called`);
    assert.ok(methods.has('AppCallbackHealthCheck.HealthCheck'), 'HealthCheck called');
    assert.deepEqual(
      app.calls.filter((c) => c.metadata['dapr-api-token'] !== APP_TOKEN).map((c) => c.method),
      [],
    );
  });
});

describe('gRPC app channel: an app serving neither bulk method', () => {
  let sc: Sidecar;
  let app: GrpcApp;
  const dead: unknown[] = [];

  before(async () => {
    const dir = tempDir('grpc-no-bulk');
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    const unimplemented = () => Promise.reject(grpcError(status.UNIMPLEMENTED, 'not served'));
    ({ app, sc } = await startWithGrpcApp(
      {
        'AppCallback.ListTopicSubscriptions': () => bulkWithDeadLetter('dlq', 10, 200),
        'AppCallback.OnTopicEvent': (req: { data: Uint8Array }) => {
          dead.push(Buffer.from(req.data).toString());
          return { status: SUCCESS };
        },
        'AppCallback.OnBulkTopicEvent': unimplemented,
        'AppCallbackAlpha.OnBulkTopicEventAlpha1': unimplemented,
      },
      { appId: 'e2e-grpc-no-bulk', resourcesPath: dir },
    ));
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  it('Unimplemented from OnBulkTopicEvent and OnBulkTopicEventAlpha1 drops the batch as daprd: acked, not redelivered, not dead-lettered', async () => {
    const r = await sc.json('POST', '/v1.0-alpha1/publish/bulk/pubsub/bulk', [{ entryId: '1', event: { n: 1 }, contentType: 'application/json' }]);
    assert.equal(r.status, 204, r.text);
    await waitUntil(() => app.of('AppCallbackAlpha.OnBulkTopicEventAlpha1').length === 1, 'the fallback call');
    // Longer than a nack's redelivery delay (1 s).
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(app.of('AppCallback.OnBulkTopicEvent').length, 1);
    assert.equal(app.of('AppCallbackAlpha.OnBulkTopicEventAlpha1').length, 1);
    assert.deepEqual(dead, []);
  });
});

describe('gRPC app channel: inbound resiliency policies (a raw @grpc/grpc-js app answering errors)', () => {
  let sc: Sidecar;
  let app: GrpcApp;
  /** The `n` of each OnTopicEvent call, by path, with its arrival time. */
  const calls: Array<{ path: string; n: number; at: number }> = [];
  let strictCode: number = status.INTERNAL;

  before(async () => {
    const dir = tempDir('grpc-resiliency');
    for (const name of ['events', 'strict']) writeComponent(dir, `${name}.yaml`, name, 'pubsub.in-memory');
    writeFileSync(
      join(dir, 'resiliency.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: policies
spec:
  policies:
    retries:
      fixed: { policy: constant, duration: 150ms, maxRetries: 2 }
      onlyUnavailable: { policy: constant, duration: 50ms, maxRetries: 2, matching: { gRPCStatusCodes: "14" } }
  targets:
    components:
      events: { inbound: { retry: fixed } }
      strict: { inbound: { retry: onlyUnavailable } }
`,
    );
    ({ app, sc } = await startWithGrpcApp(
      {
        'AppCallback.ListTopicSubscriptions': () => ({
          subscriptions: [
            { pubsubName: 'events', topic: 'work', routes: { default: 'fail' }, deadLetterTopic: 'dead' },
            { pubsubName: 'events', topic: 'dead', routes: { default: 'dead' } },
            { pubsubName: 'strict', topic: 'work', routes: { default: 'strict' }, deadLetterTopic: 'dead' },
            { pubsubName: 'strict', topic: 'dead', routes: { default: 'strict-dead' } },
          ],
        }),
        'AppCallback.OnTopicEvent': (req: { path: string; data: Uint8Array }) => {
          const { n } = JSON.parse(Buffer.from(req.data).toString()) as { n: number };
          calls.push({ path: req.path, n, at: Date.now() });
          if (req.path === 'fail') return Promise.reject(grpcError(status.INTERNAL, 'failing'));
          if (req.path === 'strict') return Promise.reject(grpcError(strictCode, 'failing'));
          return { status: SUCCESS };
        },
      },
      { appId: 'e2e-grpc-resilient', resourcesPath: dir },
    ));
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  const publish = async (pubsub: string, n: number) => {
    const r = await sc.json('POST', `/v1.0/publish/${pubsub}/work`, { n });
    assert.equal(r.status, 204, r.text);
  };
  const of = (path: string, n: number) => calls.filter((c) => c.path === path && c.n === n);

  it('a named retry policy: an app error is retried 1 + maxRetries times, duration apart, then the event goes to the dead-letter topic', async () => {
    await publish('events', 1);
    await waitUntil(() => of('dead', 1).length === 1, 'the dead letter', 10_000);
    const tries = of('fail', 1);
    assert.equal(tries.length, 3);
    for (let i = 1; i < tries.length; i++) {
      const gap = tries[i]!.at - tries[i - 1]!.at;
      assert.ok(gap >= 120, `retry ${i} came ${gap}ms after the previous try (policy: 150ms)`);
    }
  });

  it('matching.gRPCStatusCodes: an error whose code is outside the list is not retried; one inside is', async () => {
    strictCode = status.INTERNAL;
    await publish('strict', 2);
    await waitUntil(() => of('strict-dead', 2).length === 1, 'the dead letter', 10_000);
    assert.equal(of('strict', 2).length, 1);
    strictCode = status.UNAVAILABLE;
    await publish('strict', 3);
    await waitUntil(() => of('strict-dead', 3).length === 1, 'the dead letter', 10_000);
    assert.equal(of('strict', 3).length, 3);
  });
});

describe('gRPC app channel: app health it can flip (a raw @grpc/grpc-js app answering AppCallbackHealthCheck)', () => {
  let sc: Sidecar;
  let app: GrpcApp;
  let healthy = true;
  const events: string[] = [];
  const ticks: string[] = [];

  before(async () => {
    const dir = tempDir('grpc-app-pause');
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    copyFileSync(join(TEST_COMPONENTS, `${FIXTURE}.wasm`), join(dir, `${FIXTURE}.wasm`));
    writeComponent(dir, 'ticks.yaml', 'ticks', FIXTURE, { events: '0', direction: 'input, output' });
    ({ app, sc } = await startWithGrpcApp(
      {
        'AppCallbackHealthCheck.HealthCheck': () => (healthy ? {} : Promise.reject(grpcError(status.UNAVAILABLE, 'not now'))),
        'AppCallback.ListTopicSubscriptions': () => ({ subscriptions: [{ pubsubName: 'pubsub', topic: 'paused', routes: { default: 'in' } }] }),
        'AppCallback.OnTopicEvent': (req: { data: Uint8Array }) => {
          events.push(Buffer.from(req.data).toString());
          return { status: SUCCESS };
        },
        'AppCallback.OnBindingEvent': (req: { data: Uint8Array }) => {
          ticks.push(Buffer.from(req.data).toString());
          return {};
        },
      },
      {
        appId: 'e2e-grpc-pause',
        resourcesPath: dir,
        args: ['--enable-app-health-check', '--app-health-probe-interval', '1', '--app-health-probe-timeout', '300', '--app-health-threshold', '2'],
        readyMs: 15_000,
      },
    ));
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  it('threshold failed HealthCheck calls pause deliveries: messages and input-binding events sent meanwhile all arrive, once each, after a HealthCheck succeeds again', async () => {
    healthy = false;
    await sc.waitForLog((l) => l.includes('app is unhealthy'), 10_000);
    const sent = Array.from({ length: 5 }, (_, i) => `while-unhealthy-${i}`);
    for (const d of sent) {
      const r = await sc.fetch('/v1.0/publish/pubsub/paused', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: d });
      assert.equal(r.status, 204, await r.text());
      const e = await sc.fetch('/v1.0/bindings/ticks', { method: 'POST', body: JSON.stringify({ operation: 'emit', data: d }) });
      assert.ok(e.status === 200 || e.status === 204, `emit: ${e.status} ${await e.text()}`);
    }
    // Longer than a long poll and several probe intervals: nothing reaches the app.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(events, [], 'no pub/sub delivery while unhealthy');
    assert.deepEqual(ticks, [], 'no input-binding delivery while unhealthy');
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204, 'an unhealthy app does not make the sidecar unready');

    healthy = true;
    await waitUntil(() => events.length === 5 && ticks.length === 5, 'every message and event sent while unhealthy', 15_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual([...events].sort(), sent, 'each message exactly once');
    assert.deepEqual(
      [...ticks].sort(),
      sent.map((d) => JSON.stringify(d)),
      'each input-binding event exactly once',
    );
  });
});

describe('gRPC app channel: app health checks over AppCallbackHealthCheck with DaprServer', () => {
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
    // The SDK's HTTP/2 server (node:http2, made by the constructor), to end its sessions when the test stops
    // the app: followed before it listens, so the sidecar's first connection is not missed.
    (server.daprServer as unknown as { server: import('node:http2').Http2Server }).server.on('session', (s) => sessions.add(s));
    await server.pubsub.subscribe('pubsub', 'grpc-health', async (data) => {
      got.push(data);
    });
    await server.start();
  });
  // The sidecar first: the SDK's HTTP/2 server closes only once the sidecar's connection to it has ended.
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
