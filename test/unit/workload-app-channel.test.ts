/**
 * The app channel to a Wasm workload (`mortar up`): the delivery loops' HTTP-shaped calls handed to the
 * workload in process (headers filtered as the HTTP channel filters them, the app token and content-length
 * set, a deadline), and routed to the component whose Spin route matches the path, as a request on --listen
 * would be (Spin's headers set, the listener's authority; unmatched: 404; a static response answers itself);
 * the app lifecycle over it (waits for the workload to serve, reads /dapr/config and /dapr/subscribe, probes
 * health and pauses deliveries while the workload is unhealthy).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkloadAppChannel, type WorkloadApp, type WorkloadAppRequest } from '../../host/src/app-channel/workload-channel.js';
import { WorkloadAppEndpoint } from '../../host/src/workloads/workload-app.js';
import { SpinRouter } from '../../host/src/workloads/spin-routes.js';
import type { WorkloadRequest } from '../../host/src/workloads/workload-handler.js';
import { createLogger } from '../../host/src/logger.js';
import { AppLifecycle, type SubscriptionSink } from '../../host/src/app-channel/lifecycle.js';
import type { Subscription } from '../../host/src/blocks/pubsub/subscription.js';
import { waitUntil } from '../helpers/wait.js';

const utf8 = new TextEncoder();

describe('the workload app channel', () => {
  it('hands the call over with the framing headers dropped, names lower-cased, content-length and the app token set', async () => {
    const seen: WorkloadAppRequest[] = [];
    const app: WorkloadApp = {
      whenServing: async () => {},
      handle: async (r) => {
        seen.push(r);
        return { status: 200, headers: [['content-type', 'application/json']], body: utf8.encode('{"status":"RETRY"}') };
      },
    };
    const channel = new WorkloadAppChannel(app, { appId: 'a', appToken: 'tok' });
    const body = Buffer.from('{"data":1}');
    const res = await channel.request(
      'POST',
      '/events/orders',
      body,
      {
        'Content-Type': 'application/cloudevents+json',
        pubsubname: 'pubsub',
        'transfer-encoding': 'chunked',
        host: 'evil',
        'dapr-api-token': 'forged',
        'bad name': 'x',
      },
      1000,
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '{"status":"RETRY"}');
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.pathWithQuery, '/events/orders');
    assert.deepEqual(Buffer.from(seen[0]!.body).toString(), '{"data":1}');
    assert.deepEqual(seen[0]!.headers, [
      ['content-type', 'application/cloudevents+json'],
      ['pubsubname', 'pubsub'],
      ['dapr-api-token', 'tok'],
      ['content-length', String(body.length)],
    ]);
    assert.equal(channel.paused(), false, 'without health checks deliveries never pause');
  });

  it('rejects when the workload does not answer within the deadline, and aborts the request', async () => {
    let signal: AbortSignal | undefined;
    const app: WorkloadApp = {
      whenServing: async () => {},
      handle: (r) => {
        signal = r.signal;
        return new Promise(() => {});
      },
    };
    const channel = new WorkloadAppChannel(app, { appId: 'a' });
    await assert.rejects(channel.request('GET', '/dapr/subscribe', undefined, {}, 50), /did not answer GET \/dapr\/subscribe within 50ms/);
    assert.equal(signal?.aborted, true);
  });
});

describe('the workload as an app: calls routed as on --listen', () => {
  const calls: Array<{ component: string; request: WorkloadRequest }> = [];
  const endpoint = new WorkloadAppEndpoint();
  const routes = {
    appId: 'shop',
    router: new SpinRouter([
      { target: { component: 'api' }, route: '/dapr/...' },
      { target: { component: 'events' }, route: '/events/:topic' },
      { target: { trigger: 'static' }, route: '/static' },
    ]),
    staticResponses: new Map([['static', { status: 201, headers: [['x-static', 'yes']] as const, body: 'fixed' }]]),
    handler: {
      handle: async (component: string, request: WorkloadRequest) => {
        calls.push({ component, request });
        return { status: 200, headers: [], body: utf8.encode(component) };
      },
    },
    logger: createLogger('silent', 'shop'),
  };
  const call = (pathWithQuery: string, method = 'GET') =>
    endpoint.handle({ method, pathWithQuery, headers: [['content-type', 'application/json']], body: new Uint8Array(0), signal: new AbortController().signal });

  it('answers 503 until the workload serves, then routes each path to the component of the matching route', async () => {
    assert.equal((await call('/dapr/subscribe')).status, 503);
    let served = false;
    void endpoint.whenServing().then(() => {
      served = true;
    });
    endpoint.serve(routes, '127.0.0.1:3000');
    await endpoint.whenServing();
    assert.ok(served);
    assert.equal(Buffer.from((await call('/dapr/subscribe')).body).toString(), 'api');
    assert.equal(Buffer.from((await call('/events/orders', 'POST')).body).toString(), 'events');
    const last = calls.at(-1)!.request;
    assert.equal(last.authority, '127.0.0.1:3000');
    const h = new Map(last.headers);
    assert.equal(h.get('spin-full-url'), 'http://127.0.0.1:3000/events/orders');
    assert.equal(h.get('spin-path-match-topic'), 'orders');
    assert.equal(h.get('spin-client-addr'), '127.0.0.1:0');
    assert.equal(h.get('content-type'), 'application/json');
  });

  it('a path no route matches answers 404 (no subscriptions, a dropped delivery); a static route answers itself', async () => {
    const n = calls.length;
    assert.equal((await call('/nothing')).status, 404);
    const s = await call('/static');
    assert.equal(s.status, 201);
    assert.equal(Buffer.from(s.body).toString(), 'fixed');
    assert.equal(calls.length, n, 'no component ran');
  });
});

describe('the app lifecycle with a workload as the app', () => {
  /** A workload answering from `answer`, recording each call; serving once `serve()` is called. */
  function workload(answer: (r: WorkloadAppRequest) => { status: number; body?: string }) {
    const calls: string[] = [];
    let serve!: () => void;
    const serving = new Promise<void>((r) => {
      serve = r;
    });
    const app: WorkloadApp = {
      whenServing: () => serving,
      handle: async (r) => {
        calls.push(`${r.method} ${r.pathWithQuery}`);
        const a = answer(r);
        return { status: a.status, headers: [], body: utf8.encode(a.body ?? '') };
      },
    };
    return { app, calls, serve };
  }
  function sink() {
    const got: { subs?: Subscription[]; target?: unknown } = {};
    const s: SubscriptionSink = {
      setProgrammatic: (subs, app) => {
        got.subs = subs;
        got.target = app;
      },
      whenEstablished: async () => [],
      subscriptions: () => got.subs ?? [],
    };
    return { s, got };
  }
  const base = { host: '127.0.0.1', port: 0, appId: 'shop', disableInitEndpoints: [], logger: createLogger('silent', 'shop') };

  it('waits for the workload to serve, then asks GET /dapr/config and GET /dapr/subscribe through the workload channel, then starts the consumers', async () => {
    const w = workload((r) =>
      r.pathWithQuery === '/dapr/subscribe'
        ? { status: 200, body: JSON.stringify([{ pubsubname: 'pubsub', topic: 'orders', route: '/events/orders' }]) }
        : { status: 404 },
    );
    const { s, got } = sink();
    const lc = new AppLifecycle({ ...base, workload: w.app, pubsub: s });
    assert.ok(lc.channel instanceof WorkloadAppChannel);
    let consumerStarted = false;
    lc.register({ name: 'input bindings', start: async () => void (consumerStarted = true), stop: async () => {} });
    lc.start();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(w.calls, [], 'nothing is called before the workload serves');
    assert.deepEqual(lc.notReadyTargets(), ['app']);
    w.serve();
    await waitUntil(() => consumerStarted, 'the consumers started');
    assert.deepEqual(w.calls, ['GET /dapr/config', 'GET /dapr/subscribe']);
    assert.deepEqual(
      got.subs!.map((x) => [x.pubsubname, x.topic]),
      [['pubsub', 'orders']],
    );
    assert.equal(got.target, lc.channel);
    assert.ok(lc.ready());
    await lc.stop();
  });

  it('with app health checks, probes the workload and reads nothing until it answers 2xx; an unhealthy workload pauses deliveries', async () => {
    let healthy = false;
    const w = workload((r) => (r.pathWithQuery === '/health' ? { status: healthy ? 200 : 503 } : { status: 404 }));
    const { s, got } = sink();
    const lc = new AppLifecycle({ ...base, workload: w.app, pubsub: s, health: { path: '/health', intervalMs: 20, timeoutMs: 500, threshold: 1 } });
    lc.start();
    w.serve();
    await waitUntil(() => w.calls.filter((c) => c === 'GET /health').length >= 2, 'two probes');
    assert.equal(got.subs, undefined, 'subscriptions are not read while the workload is unhealthy');
    assert.equal(lc.channel.paused(), true);
    healthy = true;
    await waitUntil(() => got.subs !== undefined, 'subscriptions read once healthy');
    assert.equal(lc.channel.paused(), false);
    healthy = false;
    await waitUntil(() => lc.channel.paused(), 'deliveries paused again');
    await lc.stop();
  });

  it('a stop before the workload serves ends the wait', async () => {
    const w = workload(() => ({ status: 404 }));
    const lc = new AppLifecycle({ ...base, workload: w.app, pubsub: sink().s });
    lc.start();
    await lc.stop();
    w.serve();
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(w.calls, []);
  });
});
