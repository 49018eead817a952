/**
 * The workload listener over real HTTP: Spin's well-known routes, 404 for an unmatched path, static responses,
 * the request a WorkloadHandler receives (method, authority, path and query, headers with Spin's `spin-*`,
 * body), the body limit, a failing handler, and the 503 answered until the engine is wired in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createLogger } from '../../host/src/logger.js';
import { SpinRouter } from '../../host/src/workloads/spin-routes.js';
import { parseListenAddress, TriggerServer } from '../../host/src/workloads/trigger-server.js';
import { EngineNotWired, type WorkloadHandler, type WorkloadRequest } from '../../host/src/workloads/workload-handler.js';

const seen: Array<{ component: string; req: WorkloadRequest }> = [];
const recorder: WorkloadHandler = {
  async handle(component, req) {
    seen.push({ component, req });
    if (component === 'broken') throw new Error('trapped');
    return {
      status: 207,
      headers: [
        ['x-echo', req.method],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
      ],
      body: new TextEncoder().encode(`got ${req.body.length}`),
    };
  },
};

function server(handler: WorkloadHandler): TriggerServer {
  const router = new SpinRouter([
    { target: { component: 'users' }, route: '/users/:id/...' },
    { target: { component: 'broken' }, route: '/broken' },
    { target: { trigger: 'teapot' }, route: '/teapot' },
  ]);
  return new TriggerServer({
    appId: 'shop',
    appVersion: '2.0.0',
    router,
    staticResponses: new Map([['teapot', { status: 418, headers: [['x-kind', 'tea']], body: 'short and stout' }]]),
    handler,
    maxBodyBytes: 1024,
    logger: createLogger('silent'),
  });
}

/** A raw request (fetch would refuse to send some of these headers). */
function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

describe('workload listener', () => {
  const s = server(recorder);
  let port = 0;
  before(async () => {
    port = await s.listen('127.0.0.1', 0);
  });
  after(() => s.close(1000));

  it('answers /.well-known/spin/health and /info itself, and 404 for other well-known paths', async () => {
    assert.deepEqual((await send(port, 'GET', '/.well-known/spin/health')).body, 'OK');
    const info = await send(port, 'GET', '/.well-known/spin/info');
    assert.deepEqual(JSON.parse(info.body), { name: 'shop', version: '2.0.0' });
    assert.equal((await send(port, 'GET', '/.well-known/spin/other')).status, 404);
  });

  it('an unmatched path is 404 with an empty body, as Spin answers it', async () => {
    const r = await send(port, 'GET', '/nothing/here');
    assert.equal(r.status, 404);
    assert.equal(r.body, '');
    assert.equal((await send(port, 'GET', '/users')).status, 404, '/users/:id/... needs its :id segment');
  });

  it('a static_response route answers without the handler', async () => {
    const before = seen.length;
    const r = await send(port, 'GET', '/teapot');
    assert.equal(r.status, 418);
    assert.equal(r.headers['x-kind'], 'tea');
    assert.equal(r.body, 'short and stout');
    assert.equal(seen.length, before);
  });

  it('hands the handler the whole request with Spin`s headers, replacing a client`s spin-* headers, and sends its answer', async () => {
    const r = await send(
      port,
      'POST',
      '/users/42/orders/7?x=1&y=%20',
      { host: 'shop.example:8080', 'spin-client-addr': '6.6.6.6:1', 'x-custom': 'v', connection: 'keep-alive', 'keep-alive': 'timeout=5' },
      'hello body',
    );
    assert.equal(r.status, 207);
    assert.equal(r.headers['x-echo'], 'POST');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'], 'repeated response headers stay separate');
    assert.equal(r.body, 'got 10');
    const { component, req } = seen[seen.length - 1]!;
    assert.equal(component, 'users');
    assert.equal(req.method, 'POST');
    assert.equal(req.scheme, 'http');
    assert.equal(req.authority, 'shop.example:8080');
    assert.equal(req.pathWithQuery, '/users/42/orders/7?x=1&y=%20');
    assert.equal(new TextDecoder().decode(req.body), 'hello body');
    assert.ok(
      !req.headers.some(([k]) => ['host', 'connection', 'keep-alive', 'upgrade'].includes(k)),
      'no Host nor hop-by-hop header: the guest reads the authority',
    );
    const h = req.headers.filter(([k]) => k.startsWith('spin-') || k === 'x-custom');
    const clientAddr = h.find(([k]) => k === 'spin-client-addr')![1];
    assert.match(clientAddr, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(h, [
      ['x-custom', 'v'],
      ['spin-path-info', '/orders/7'],
      ['spin-full-url', 'http://shop.example:8080/users/42/orders/7?x=1&y=%20'],
      ['spin-matched-route', '/users/:id/...'],
      ['spin-base-path', '/'],
      ['spin-raw-component-route', '/users/:id/...'],
      ['spin-component-route', '/users/:id'],
      ['spin-client-addr', clientAddr],
      ['spin-path-match-id', '42'],
    ]);
  });

  it('refuses a body over --max-body-size with 413 ERR_BODY_READ, by Content-Length and while streaming', async () => {
    const before = seen.length;
    const r = await send(port, 'POST', '/users/1', {}, Buffer.alloc(2000));
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).errorCode, 'ERR_BODY_READ');
    const chunked = await send(port, 'POST', '/users/1', { 'transfer-encoding': 'chunked' }, Buffer.alloc(2000));
    assert.equal(chunked.status, 413);
    assert.equal(seen.length, before, 'the handler saw neither');
    assert.equal((await send(port, 'POST', '/users/1', {}, Buffer.alloc(1024))).status, 207, 'exactly the limit is served');
  });

  it('a handler that fails answers 500 with an empty body, and the next request is served', async () => {
    const r = await send(port, 'GET', '/broken');
    assert.equal(r.status, 500);
    assert.equal(r.body, '');
    assert.equal((await send(port, 'GET', '/users/9')).status, 207);
  });
});

describe('workload listener without the engine', () => {
  it('a matched route answers 503 ERR_WORKLOAD_UNAVAILABLE in Dapr`s format; an unmatched one 404', async () => {
    const s = server(new EngineNotWired('shop'));
    const port = await s.listen('127.0.0.1', 0);
    try {
      const r = await send(port, 'GET', '/users/1');
      assert.equal(r.status, 503);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(r.body), {
        errorCode: 'ERR_WORKLOAD_UNAVAILABLE',
        message: 'workload component users cannot serve requests: the Wasm workload engine is not wired into this build of mortar up yet',
      });
      assert.equal((await send(port, 'GET', '/x')).status, 404);
    } finally {
      await s.close(1000);
    }
  });
});

describe('--listen', () => {
  it('takes host:port, [ipv6]:port and names; refuses anything else', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:3000'), { host: '127.0.0.1', port: 3000 });
    assert.deepEqual(parseListenAddress('[::1]:3001'), { host: '::1', port: 3001 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    for (const bad of ['3000', '127.0.0.1', ':3000', '127.0.0.1:99999', '::1:3000'])
      assert.throws(() => parseListenAddress(bad), /--listen: '.*' is not <host>:<port>/, bad);
  });
});
