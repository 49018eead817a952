/**
 * Wasm HTTP workloads on mortar's building blocks: the test workloads (test/fixtures/workloads: a Spin app
 * built with @fermyon/spin-sdk 2.0.0, one built as Spin 3.6's http-ts template builds, a QuickJS guest
 * written against wasi:keyvalue + wasi:config, and a key-value reader in WebAssembly text) served by
 * `WorkloadHost` inside real runtimes (in process, their HTTP API listening): one with no resources (so the embedded default `statestore`, state.sqlite, serves the
 * `default` label), one whose resources have a state.redis store.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { Runtime } from '../../host/src/runtime.js';
import { testRuntimeConfig } from '../helpers/runtime-config.js';
import { createLogger } from '../../host/src/logger.js';
import { WorkloadEndpoint } from '../../host/src/workloads/workload-endpoint.js';
import { WorkloadHost, type WorkloadRequest, type WorkloadResponse, type WorkloadSpec } from '../../host/src/workloads/workload-host.js';
import { TriggerServer } from '../../host/src/workloads/trigger-server.js';
import { SpinRouter } from '../../host/src/workloads/spin-routes.js';
import { WORKER_TRIGGER_MODULE, type WorkerTriggerOptions } from '../../host/src/workloads/worker-trigger.js';
import { REDIS_HOST, ROOT, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const APP_ID = `wl-${process.pid}-${Date.now()}`;
const WORKLOADS = join(ROOT, 'dist/test-workloads');
const GUESTS = [
  { name: 'spin-sdk-v2', outbound: true, kv: 'fermyon:spin/key-value@2.0.0' },
  { name: 'spin-http-ts', outbound: true, kv: 'fermyon:spin/key-value@2.0.0' },
  { name: 'quickjs-http', outbound: false, kv: 'wasi:keyvalue' },
] as const;

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const header = (r: WorkloadResponse, name: string) => {
  const h = r.headers.find(([k]) => k === name);
  return h ? text(h[1]) : undefined;
};

function request(method: string, pathWithQuery: string, body: Uint8Array = new Uint8Array(0), headers: Array<[string, string]> = []): WorkloadRequest {
  return { method, scheme: 'http', authority: '127.0.0.1:3000', pathWithQuery, headers, body };
}

// Each request mode (`WorkloadSpec.mode`): sync workers, and async (JSPI) workers serving many requests each.
for (const mode of ['sync', 'async'] as const)
  describe(`Wasm workloads (${mode} workers): Spin apps and a QuickJS guest on the building blocks`, () => {
    let rt: Runtime;
    let api: string;
    let rtRedis: Runtime;
    let apiRedis: string;
    let target: http.Server;
    let allowed: string;
    let refused: string;
    const hosts: WorkloadHost[] = [];
    const logger = createLogger('silent', APP_ID);
    let cacheDir: string;

    async function workload(name: string, spec: Partial<WorkloadSpec> = {}, on: Runtime = rt): Promise<WorkloadHost> {
      const host = new WorkloadHost({ api: on.api, logger, cacheDir });
      hosts.push(host);
      await host.start({
        appId: APP_ID,
        name,
        wasm: join(WORKLOADS, `${name}.wasm`),
        keyValueStores: ['default'],
        variables: { message: `hello from ${name}` },
        allowedOrigins: [allowed],
        mode,
        ...spec,
      });
      return host;
    }

    /**
     * Has `host`'s workers listen themselves (`worker-trigger.ts`, every path routed to `component`) on an
     * address a `TriggerServer` opened and then stopped accepting on: that listener answers 599, so a 599 is a
     * request this thread served. Resolves with the address's URL.
     */
    async function workersListen(host: WorkloadHost, component: string): Promise<string> {
      const router = new SpinRouter([{ target: { component }, route: '/...' }]);
      const mainThread = new TriggerServer({
        appId: APP_ID,
        router,
        staticResponses: new Map(),
        maxBodyBytes: 1 << 20,
        logger,
        handler: { handle: async () => ({ status: 599, headers: [], body: new Uint8Array(0) }) },
      });
      const port = await mainThread.listen('127.0.0.1', 0, 'first');
      const options: WorkerTriggerOptions = {
        appId: APP_ID,
        routes: router.entries,
        staticResponses: new Map(),
        component,
        maxBodyBytes: 1 << 20,
        host: '127.0.0.1',
        port,
        debug: false,
      };
      assert.equal(await host.listen({ module: WORKER_TRIGGER_MODULE, options }), true, 'the workers listen');
      mainThread.stopAccepting();
      return mainThread.url;
    }

    /** `name` on one worker, a 2 s deadline, its warnings kept in `lines`. */
    async function oneWorker(name: string): Promise<{ one: WorkloadHost; lines: Array<{ msg: string }> }> {
      const lines: Array<{ msg: string }> = [];
      const captured = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      const one = new WorkloadHost({ api: rt.api, logger: captured, cacheDir });
      hosts.push(one);
      await one.start({ appId: APP_ID, name, wasm: join(WORKLOADS, `${name}.wasm`), mode, instances: 1, requestTimeoutMs: 2000 });
      return { one, lines };
    }

    /** `count` GET `path`s at once, each on a connection of its own. */
    async function onOwnConnections(url: string, count: number): Promise<Array<{ status: number; body: string; headers: http.IncomingHttpHeaders }>> {
      return Promise.all(
        Array.from(
          { length: count },
          () =>
            new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
              http
                .get(url, { agent: false }, (res) => {
                  let body = '';
                  res.setEncoding('utf8');
                  res.on('data', (c: string) => (body += c));
                  res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
                })
                .on('error', reject);
            }),
        ),
      );
    }

    /** A runtime in this process for `APP_ID`, listening for HTTP on a free port. */
    async function runtime(resourcePaths: string[]): Promise<[Runtime, string]> {
      const dataDir = tempDir('workloads');
      const httpPort = await freePort();
      const config = testRuntimeConfig({ appId: APP_ID, httpPort, listenAddresses: ['127.0.0.1'], resourcePaths, dataDir });
      const r = new Runtime(config, logger);
      await r.start();
      return [r, `http://127.0.0.1:${httpPort}`];
    }

    before(async () => {
      cacheDir = join(tempDir('workloads-cache'), 'cache');
      [rt, api] = await runtime([]);
      const res = tempDir('workloads-res');
      writeComponent(res, 'redis.yaml', 'redisstore', 'state.redis', { redisHost: REDIS_HOST });
      [rtRedis, apiRedis] = await runtime([res]);
      // The outbound target: answers `pong <path>`; two ports, one of them allowed.
      target = http.createServer((req, res) => {
        // `/slow`: answered after 1.5 s, to show what a request waiting on it holds.
        if (req.url === '/slow') setTimeout(() => res.end('pong slow'), 1500);
        else res.end(`pong ${req.url}`);
      });
      await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
      const port = (target.address() as { port: number }).port;
      allowed = `http://127.0.0.1:${port}`;
      refused = `http://localhost:${port}`;
    });

    after(async () => {
      for (const h of hosts) await h.close();
      await rt?.stop();
      await rtRedis?.stop();
      await new Promise((r) => target?.close(r));
    });

    for (const g of GUESTS) {
      describe(g.name, () => {
        let host: WorkloadHost;
        before(async () => {
          host = await workload(g.name);
        });

        it(`${g.kv}: a counter on the embedded default store (state.sqlite) increments across requests`, async () => {
          await fetch(`${api}/v1.0/state/statestore/counter`, { method: 'DELETE' });
          for (const n of [1, 2, 3]) {
            const r = await host.handle(request('GET', '/counter'));
            assert.equal(r.status, 200);
            assert.equal(text(r.body), String(n));
          }
        });

        it('cross-face: what the guest writes an HTTP app with the same app id reads through /v1.0/state, and back', async () => {
          const binary = Uint8Array.from([0, 1, 2, 254, 255, 10, 13]);
          const put = await host.handle(request('PUT', `/kv?key=${g.name}-bin`, binary));
          assert.equal(put.status, 204);
          const read = await fetch(`${api}/v1.0/state/statestore/${g.name}-bin`);
          assert.equal(read.status, 200);
          assert.deepEqual(new Uint8Array(await read.arrayBuffer()), binary, 'the HTTP app reads the guest’s bytes exactly');
          const save = await fetch(`${api}/v1.0/state/statestore`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify([{ key: `${g.name}-from-http`, value: { by: 'http' } }]),
          });
          assert.equal(save.status, 204);
          const got = await host.handle(request('GET', `/kv?key=${g.name}-from-http`));
          assert.equal(got.status, 200);
          assert.deepEqual(JSON.parse(text(got.body)), { by: 'http' }, 'the guest reads what the HTTP app saved');
          const counter = await fetch(`${api}/v1.0/state/statestore/counter`);
          assert.equal(await counter.text(), '3', 'the HTTP app reads the guest’s counter');
        });

        it('key-value values are bytes: an empty value is not a missing key', async () => {
          assert.equal((await host.handle(request('PUT', `/kv?key=${g.name}-empty`))).status, 204);
          const empty = await host.handle(request('GET', `/kv?key=${g.name}-empty`));
          assert.equal(empty.status, 200, 'an empty value is found');
          assert.equal(empty.body.length, 0);
          const missing = await host.handle(request('GET', `/kv?key=${g.name}-never-written`));
          assert.equal(missing.status, 404, 'a missing key is not found');
        });

        it('reads a variable', async () => {
          const r = await host.handle(request('GET', '/var'));
          assert.equal(text(r.body), `hello from ${g.name}`);
        });

        it('no state leaks between requests: a global set by one request is not seen by the next', async () => {
          for (let i = 0; i < 5; i++) assert.equal(text((await host.handle(request('GET', '/global'))).body), 'fresh');
        });

        it('the guest sees the request as sent: method, URL from scheme and authority, headers and body bytes', async () => {
          const body = Uint8Array.from([0xff, 0, 0x41]);
          const r = await host.handle(request('POST', '/echo?x=1', body, [['x-custom', 'v1']]));
          assert.equal(r.status, 201);
          assert.equal(header(r, 'x-echo-method'), 'POST');
          assert.match(header(r, 'x-echo-url') ?? '', /^(http|HTTP):\/\/127\.0\.0\.1:3000\/echo\?x=1$/);
          assert.equal(JSON.parse(header(r, 'x-echo-headers') ?? '{}')['x-custom'], 'v1');
          assert.deepEqual(new Uint8Array(r.body), body);
        });

        if (g.outbound) {
          it('outbound HTTP: an allowed origin is called; another is refused', async () => {
            const ok = await host.handle(request('GET', `/fetch?url=${encodeURIComponent(`${allowed}/ping`)}`));
            assert.equal(text(ok.body), '200 pong /ping');
            const no = await host.handle(request('GET', `/fetch?url=${encodeURIComponent(`${refused}/ping`)}`));
            assert.equal(no.status, 502);
            assert.match(text(no.body), /^refused/);
          });

          if (mode === 'async')
            it('async: a request waiting on a slow outbound response holds its instance, not the thread: on one worker, other requests are answered meanwhile', async () => {
              const one = await workload(g.name, { instances: 1 });
              const started = performance.now();
              const slow = one.handle(request('GET', `/fetch?url=${encodeURIComponent(`${allowed}/slow`)}`));
              const others: number[] = [];
              for (let i = 0; i < 3; i++) {
                const r = await one.handle(request('GET', '/global'));
                assert.equal(text(r.body), 'fresh');
                others.push(performance.now() - started);
              }
              assert.equal(text((await slow).body), '200 pong slow');
              const slowMs = performance.now() - started;
              assert.ok(slowMs >= 1400, `the slow one took ${slowMs.toFixed(0)} ms`);
              assert.ok(Math.max(...others) < 1000, `the others answered at ${others.map((t) => t.toFixed(0)).join(', ')} ms`);
            });
        }

        it('a request that loops answers 500 at its deadline, and the next request is served', async () => {
          const quick = await workload(g.name, { requestTimeoutMs: 2000 });
          const r = await quick.handle(request('GET', '/loop'));
          assert.equal(r.status, 500);
          assert.match(text(r.body), /did not answer within 2000ms/);
          const next = await quick.handle(request('GET', '/global'));
          assert.equal(next.status, 200, text(next.body));
          assert.equal(text(next.body), 'fresh');
          await quick.close();
        });

        if (mode === 'async')
          it('async: a request that loops is stopped at its deadline inside its worker: requests sent to that worker meanwhile are answered, and the worker is not replaced', async () => {
            // One worker: the requests after the loop go where it runs, and wait there until it is stopped.
            const { one, lines } = await oneWorker(g.name);
            const loop = one.handle(request('GET', '/loop'));
            await new Promise((r) => setTimeout(r, 1000));
            const others = [0, 1, 2].map(() => one.handle(request('GET', '/global')));
            const r = await loop;
            assert.equal(r.status, 500);
            assert.match(text(r.body), /did not answer within 2000ms/);
            for (const o of await Promise.all(others)) {
              assert.equal(o.status, 200, text(o.body));
              assert.equal(text(o.body), 'fresh');
            }
            const stopped = lines.filter((l) => /worker stopped/.test(l.msg)).map((l) => l.msg);
            assert.deepEqual(stopped, [], 'no worker was terminated');
          });

        if (mode === 'async')
          it("async, its worker listening itself: requests over HTTP are served there with Spin's view of them, a request that loops is stopped at its deadline by the pool's watchdog while other connections to that worker are answered, and the worker is not replaced", async () => {
            const { one, lines } = await oneWorker(g.name);
            const url = await workersListen(one, g.name);
            const first = await onOwnConnections(`${url}/global`, 4);
            assert.deepEqual(
              first.map((r) => [r.status, r.body]),
              Array(4).fill([200, 'fresh']),
              'served by the worker (599: by the main thread)',
            );
            const echo = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; local: number }>((resolve, reject) => {
              const req = http.request(`${url}/echo?x=1`, { method: 'POST', agent: false, headers: { 'x-custom': 'v1' } }, (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), local: req.socket!.localPort! }));
              });
              req.on('error', reject);
              req.end(Buffer.from([0xff, 0, 0x41]));
            });
            assert.equal(echo.status, 201);
            // (QuickJS's guest writes the scheme in capitals.)
            assert.equal(String(echo.headers['x-echo-url']).toLowerCase(), `${url}/echo?x=1`, 'the URL from the Host header');
            const seen = JSON.parse(String(echo.headers['x-echo-headers'])) as Record<string, string>;
            assert.equal(seen['x-custom'], 'v1');
            assert.equal(seen['spin-full-url'], `${url}/echo?x=1`);
            assert.equal(seen['spin-client-addr'], `127.0.0.1:${echo.local}`, "the client's own address, as the worker's socket has it");
            assert.deepEqual([...echo.body], [0xff, 0, 0x41]);
            const started = Date.now();
            const loop = onOwnConnections(`${url}/loop`, 1);
            await new Promise((r) => setTimeout(r, 1000));
            const others = await onOwnConnections(`${url}/global`, 3);
            const [looped] = await loop;
            assert.equal(looped!.status, 500);
            assert.match(looped!.body, /did not answer within 2000ms/);
            assert.ok(Date.now() - started < 2000 + 1000, `answered ${Date.now() - started} ms after it was sent`);
            assert.deepEqual(
              others.map((r) => [r.status, r.body]),
              Array(3).fill([200, 'fresh']),
            );
            const stopped = lines.filter((l) => /worker stopped/.test(l.msg)).map((l) => l.msg);
            assert.deepEqual(stopped, [], 'no worker was terminated');
            await one.unlisten(1000);
            await assert.rejects(onOwnConnections(`${url}/global`, 1), /ECONNREFUSED/, 'once no worker listens, nothing does');
          });
      });
    }

    it('quickjs-http: a request that traps answers 500 (what the guest printed is logged), and the next request is served', async () => {
      const lines: Array<{ msg: string; workload?: string }> = [];
      const captured = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      const host = new WorkloadHost({ api: rt.api, logger: captured, cacheDir });
      hosts.push(host);
      await host.start({ appId: APP_ID, name: 'thrower', wasm: join(WORKLOADS, 'quickjs-http.wasm'), mode });
      const r = await host.handle(request('GET', '/throw'));
      assert.equal(r.status, 500);
      assert.match(text(r.body), /trap|unreachable/i);
      // The log line comes on the bridge port, the answer on the worker's: either may arrive first.
      await waitUntil(() => lines.some((l) => l.workload === 'thrower' && /Failed to call 'handle'.*boom/.test(l.msg)), 'the guest’s stderr line logged', 5000);
      for (let i = 0; i < 3; i++) assert.equal(text((await host.handle(request('GET', '/global'))).body), 'fresh');
    });

    it('memory cap: a request allocating past its instance’s cap answers 500, and the next request is served', async () => {
      const host = await workload('quickjs-http', { memoryBytes: 4 * 1024 * 1024 });
      assert.equal(text((await host.handle(request('GET', '/global'))).body), 'fresh');
      const r = await host.handle(request('GET', '/grow'));
      assert.equal(r.status, 500, 'an 8 MB allocation under a 4 MB cap fails');
      assert.equal(text((await host.handle(request('GET', '/global'))).body), 'fresh');
      const roomy = await workload('quickjs-http', { memoryBytes: 64 * 1024 * 1024 });
      assert.equal((await roomy.handle(request('GET', '/grow'))).status, 200, 'the same request under a 64 MB cap succeeds');
    });

    it('state.redis: a label mapped to a Redis store keeps the counter there, readable through /v1.0/state', async () => {
      await fetch(`${apiRedis}/v1.0/state/redisstore/counter`, { method: 'DELETE' });
      const host = await workload('spin-http-ts', { keyValueMap: { default: 'redisstore' } }, rtRedis);
      const qjs = await workload('quickjs-http', { keyValueMap: { default: 'redisstore' } }, rtRedis);
      for (const n of [1, 2]) assert.equal(text((await host.handle(request('GET', '/counter'))).body), String(n));
      assert.equal(text((await qjs.handle(request('GET', '/counter'))).body), '3', 'wasi:keyvalue increment on the same key');
      const read = await fetch(`${apiRedis}/v1.0/state/redisstore/counter`);
      assert.equal(await read.text(), '3');
      const sdk = await workload('spin-sdk-v2', { keyValueStores: ['cache'], keyValueMap: {} }, rtRedis);
      assert.equal((await sdk.handle(request('GET', '/counter'))).status, 500, 'spin-sdk-v2 opens `default`, which it was not given');
      const other = await workload('quickjs-http', { keyValueStores: ['default', 'redisstore'], keyValueMap: { default: 'redisstore' } }, rtRedis);
      assert.equal(text((await other.handle(request('GET', '/counter'))).body), '4');
    });

    it('wat-http, a guest with no language runtime (WebAssembly text): reads what an HTTP app with its app id saved, on state.redis and on the embedded default; the key from anywhere in the query; a missing key answers 404', async () => {
      const sides = [
        { on: rtRedis, base: apiRedis, store: 'redisstore', spec: { keyValueMap: { default: 'redisstore' } } },
        { on: rt, base: api, store: 'statestore', spec: {} },
      ];
      for (const { on, base, store, spec } of sides) {
        const host = await workload('wat-http', spec, on);
        const key = `wat-${store}`;
        const save = await fetch(`${base}/v1.0/state/${store}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify([{ key, value: { by: 'http', store } }]),
        });
        assert.equal(save.status, 204);
        for (const q of [`key=${key}`, `x=key%3D&key=${key}&y=1`]) {
          const got = await host.handle(request('GET', `/kv?${q}`));
          assert.equal(got.status, 200, `${store}: /kv?${q}`);
          assert.deepEqual(JSON.parse(text(got.body)), { by: 'http', store }, `${store}: the guest answers the saved value`);
        }
        const missing = await host.handle(request('GET', `/kv?key=${key}-never-written`));
        assert.equal(missing.status, 404);
        assert.equal(text(missing.body), 'missing');
      }
    });

    it("key listing: Spin's get-keys (both SDKs) and wasi:keyvalue's list-keys, page by page, list exactly the workload's keys, prefix stripped (not another app's, not actor state), on the embedded default and on state.redis", async () => {
      for (const [on, store] of [
        [rt, 'statestore'],
        [rtRedis, 'redisstore'],
      ] as const) {
        const appId = `${APP_ID}-keys-${store}`;
        // More keys than a page holds (WORKLOAD_LIMITS.listPageKeys), saved as the workload's app id; one saved by another app.
        const keys = Array.from({ length: 1203 }, (_, i) => `k-${String(i).padStart(4, '0')}`);
        await on.api.saveState(
          { appId, transport: 'http' },
          store,
          keys.map((key) => ({ key, value: new Uint8Array([1]), metadata: {} })),
        );
        await on.api.saveState({ appId: `${appId}-other`, transport: 'http' }, store, [{ key: 'not-mine', value: new Uint8Array([1]), metadata: {} }]);
        if (store === 'redisstore') {
          // Actor state daprd keeps in the same store, under the app's prefix: no key the app could read.
          const { Redis } = await import('ioredis');
          const [host, port] = REDIS_HOST.split(':');
          const r = new Redis({ host, port: Number(port) });
          await r.hset(`${appId}||Counter||1||count`, 'data', '1', 'version', '1');
          r.disconnect();
        }
        const spec = { appId, keyValueMap: { default: store } };
        const qjs = await workload('quickjs-http', spec, on);
        const listed = JSON.parse(text((await qjs.handle(request('GET', '/keys'))).body)) as { pages: number; keys: string[] };
        assert.deepEqual([...listed.keys].sort(), keys, `${store}: list-keys, every page`);
        if (store === 'statestore') assert.equal(listed.pages, 2, 'two pages: 1000 keys, then 203');
        for (const name of ['spin-http-ts', 'spin-sdk-v2']) {
          const spin = await workload(name, spec, on);
          const r = await spin.handle(request('GET', '/keys'));
          assert.equal(r.status, 200, `${store}: ${name}`);
          assert.deepEqual((JSON.parse(text(r.body)) as string[]).sort(), keys, `${store}: ${name} get-keys`);
        }
        await on.api.deleteState({ appId, transport: 'http' }, store, { key: 'k-0000', metadata: {} });
        const after = JSON.parse(text((await qjs.handle(request('GET', '/keys'))).body)) as { keys: string[] };
        assert.deepEqual([...after.keys].sort(), keys.slice(1), `${store}: a deleted key is no longer listed`);
      }
    });

    it('a label not in key_value_stores is refused; a mapped label whose store does not exist is no-such-store', async () => {
      const none = await workload('spin-sdk-v2', { keyValueStores: [] });
      const denied = await none.handle(request('GET', '/counter'));
      assert.equal(denied.status, 500, 'the SDK throws, StarlingMonkey answers 500');
      const missing = await workload('quickjs-http', { keyValueMap: { default: 'no-such-store' } });
      assert.equal((await missing.handle(request('GET', '/counter'))).status, 500);
    });

    it('wasi:keyvalue atomics: a compare-and-swap succeeds on an unchanged key; batch get-many reads several keys', async () => {
      const host = await workload('quickjs-http');
      assert.equal(text((await host.handle(request('GET', '/cas?key=cas-k&v=one'))).body), 'ok');
      assert.equal(text((await host.handle(request('GET', '/cas?key=cas-k&v=two'))).body), 'ok');
      const many = await host.handle(request('GET', '/many?keys=cas-k,never-there'));
      assert.deepEqual(JSON.parse(text(many.body)), [['cas-k', 'two'], null]);
    });

    it('compare-and-swap is ETag-checked: a swap after another writer changed the key fails (cas-failed); increment retries past it', async () => {
      const endpoint = new WorkloadEndpoint({
        appId: APP_ID,
        name: 'cas',
        api: rt.api,
        logger,
        keyValueStores: ['default'],
        storeOf: {},
        variables: {},
        allowedOrigins: [],
      });
      await endpoint.dispatch('kv.set', ['default', 'cas-race', Buffer.from('1')], 5000);
      const read = (await endpoint.dispatch('kv.read', ['default', 'cas-race'], 5000)) as { etag?: string };
      assert.ok(read.etag, 'a read has the ETag of the value');
      // An HTTP app with the same app id writes the key in between.
      const save = await fetch(`${api}/v1.0/state/statestore`, { method: 'POST', body: JSON.stringify([{ key: 'cas-race', value: 5 }]) });
      assert.equal(save.status, 204);
      await assert.rejects(endpoint.dispatch('kv.swap', ['default', 'cas-race', read.etag, Buffer.from('2')], 5000), { tag: 'cas-failed' });
      assert.equal(await (await fetch(`${api}/v1.0/state/statestore/cas-race`)).text(), '5', 'the failed swap wrote nothing');
      assert.equal(await endpoint.dispatch('kv.increment', ['default', 'cas-race', '10'], 5000), '15');
    });

    it('compare-and-swap of a missing key is an insert-if-absent (FIRST_WRITE stores): of 16 concurrent swaps one wins, and 16 concurrent increments of a missing key end at 16, on state.in-memory and state.redis', async () => {
      for (const [runtime, http, store, key] of [
        [rt, api, 'statestore', 'cas-absent-mem'],
        [rtRedis, apiRedis, 'redisstore', 'cas-absent-redis'],
      ] as const) {
        const endpoint = new WorkloadEndpoint({
          appId: APP_ID,
          name: 'cas-absent',
          api: runtime.api,
          logger,
          keyValueStores: ['default'],
          storeOf: { default: store },
          variables: {},
          allowedOrigins: [],
        });
        for (const k of [key, `${key}-n`]) await fetch(`${http}/v1.0/state/${store}/${k}`, { method: 'DELETE' });
        // Every swap read the key as missing (no ETag); only one may create it.
        const swaps = await Promise.allSettled(
          Array.from({ length: 16 }, (_, i) => endpoint.dispatch('kv.swap', ['default', key, undefined, Buffer.from(`w${i}`)], 5000)),
        );
        const won = swaps.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(won.length, 1, `${store}: exactly one swap of a missing key wins (won: ${won.join(', ')})`);
        for (const r of swaps) if (r.status === 'rejected') assert.deepEqual(r.reason, { tag: 'cas-failed' }, `${store}: the others fail as cas-failed`);
        assert.equal(await (await fetch(`${http}/v1.0/state/${store}/${key}`)).text(), `w${won[0]}`, `${store}: the winner's value is stored`);
        const incs = await Promise.all(Array.from({ length: 16 }, () => endpoint.dispatch('kv.increment', ['default', `${key}-n`, '1'], 10_000)));
        assert.deepEqual(
          incs.map(Number).sort((a, b) => a - b),
          Array.from({ length: 16 }, (_, i) => i + 1),
          `${store}: each increment saw a distinct value`,
        );
        assert.equal(await (await fetch(`${http}/v1.0/state/${store}/${key}-n`)).text(), '16', `${store}: no increment was lost`);
      }
    });

    if (mode === 'async')
      it('replace while its workers listen themselves: the same workers run the changed component, their listeners stay up: requests sent all through the swap, on keep-alive connections and on a new connection each, are each answered 200, by the old component, then by the new one', async () => {
        const host = await workload('quickjs-http', { instances: 2 });
        const url = await workersListen(host, 'quickjs-http');
        const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
        const get = (agent: http.Agent | false) =>
          new Promise<{ status: number; type?: string }>((resolve, reject) => {
            http
              .get(`${url}/global`, { agent }, (res) => {
                res.resume();
                res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'] }));
              })
              .on('error', reject);
          });
        let swapping = true;
        const seen: Array<{ status: number; type?: string }> = [];
        const failed: string[] = [];
        const loops = [keepAlive, keepAlive, keepAlive, keepAlive, false, false, false, false].map(async (agent) => {
          while (swapping)
            await get(agent as http.Agent | false).then(
              (r) => void seen.push(r),
              (err: Error) => void failed.push(err.message),
            );
        });
        await new Promise((r) => setTimeout(r, 300));
        await host.replace(join(WORKLOADS, 'spin-http-ts.wasm'));
        await new Promise((r) => setTimeout(r, 300));
        swapping = false;
        await Promise.all(loops);
        keepAlive.destroy();
        assert.deepEqual(failed, [], 'no request failed');
        assert.ok(seen.length > 40, `${seen.length} requests during the swap`);
        assert.deepEqual(
          seen.filter((r) => r.status !== 200),
          [],
          'every one answered 200 (599: by the main thread)',
        );
        assert.ok(
          seen.some((r) => r.type === undefined),
          'the QuickJS guest answered some',
        );
        assert.match(seen.at(-1)?.type ?? '', /text\/plain/, 'the StarlingMonkey app answers after the swap');
      });

    it('replace: a changed component is swapped in and serves the next request', async () => {
      const host = await workload('quickjs-http');
      assert.equal(header(await host.handle(request('GET', '/global')), 'content-type'), undefined);
      await host.replace(join(WORKLOADS, 'spin-http-ts.wasm'));
      const r = await host.handle(request('GET', '/global'));
      assert.equal(text(r.body), 'fresh');
      assert.match(header(r, 'content-type') ?? '', /text\/plain/, 'answered by the StarlingMonkey app');
    });
  });
