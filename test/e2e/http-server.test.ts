/**
 * The HTTP API server's own rules against a real `mortar` process: request timeouts for clients that never
 * finish sending, the bounds on app-set metadata, and the answer for Dapr APIs mortar does not serve.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Sidecar } from '../helpers/sidecar.js';

/** Opens a raw connection, writes `head`, and reports what came back and when the server closed it. */
function slowClient(port: number, head: string): Promise<{ answer: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1', () => s.write(head));
    let answer = '';
    s.on('data', (b) => {
      answer += b.toString('latin1');
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve({ answer, closedAfterMs: Date.now() - t0 }));
    setTimeout(() => {
      s.destroy();
      reject(new Error('connection still open after 60 s'));
    }, 60_000).unref();
  });
}

describe('mortar HTTP API server', () => {
  let sc: Sidecar;
  before(async () => {
    sc = await Sidecar.start();
  });
  after(async () => {
    await sc?.stop();
  });

  it('a request whose headers (10 s) or body (30 s) never finish is answered 408 and its connection closed, while other requests are served', async () => {
    const headers = slowClient(sc.port, 'GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const body = slowClient(
      sc.port,
      'POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"key":',
    );
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204, 'the API answers while two clients stall');
    const [h, b] = await Promise.all([headers, body]);
    assert.match(h.answer, /^HTTP\/1\.1 408/);
    assert.ok(h.closedAfterMs >= 9_000 && h.closedAfterMs <= 13_000, `headers cut after ${h.closedAfterMs} ms`);
    assert.match(b.answer, /^HTTP\/1\.1 408/);
    assert.ok(b.closedAfterMs >= 29_000 && b.closedAfterMs <= 33_000, `body cut after ${b.closedAfterMs} ms`);
  });

  it('PUT /v1.0/metadata/{key}: a value over 64 KiB is 413 and a 101st key is 400, both ERR_BAD_REQUEST naming the key; overwriting stays allowed', async () => {
    const prefix = `lim-${process.pid}`;
    const put = (key: string, body: string) => sc.fetch(`/v1.0/metadata/${key}`, { method: 'PUT', body, headers: { 'content-type': 'text/plain' } });
    assert.equal((await put(`${prefix}-max`, 'x'.repeat(64 * 1024))).status, 204, 'exactly 64 KiB is accepted');
    const big = await put(`${prefix}-big`, 'x'.repeat(4 * 1024 * 1024));
    assert.equal(big.status, 413);
    const bigBody = (await big.json()) as { errorCode: string; message: string };
    assert.equal(bigBody.errorCode, 'ERR_BAD_REQUEST');
    assert.match(bigBody.message, new RegExp(`'${prefix}-big' is 4194304 bytes; at most 65536 bytes`));

    const md = async () => ((await sc.json('GET', '/v1.0/metadata')).body as { extended: Record<string, string> }).extended;
    const have = Object.keys(await md()).filter((k) => k !== 'daprRuntimeVersion').length;
    for (let i = have; i < 100; i++) assert.equal((await put(`${prefix}-${i}`, `v${i}`)).status, 204);
    const over = await put(`${prefix}-one-too-many`, 'v');
    assert.equal(over.status, 400);
    const overBody = (await over.json()) as { errorCode: string; message: string };
    assert.equal(overBody.errorCode, 'ERR_BAD_REQUEST');
    assert.match(overBody.message, new RegExp(`'${prefix}-one-too-many' not set: at most 100 keys`));
    assert.equal((await put(`${prefix}-max`, 'overwritten')).status, 204, 'an existing key can be overwritten at the limit');
    const extended = await md();
    assert.equal(extended[`${prefix}-max`], 'overwritten');
    assert.equal(extended[`${prefix}-one-too-many`], undefined);
    assert.equal(extended[`${prefix}-big`], undefined);
  });

  it('a Dapr API mortar does not serve answers 501 ERR_API_UNIMPLEMENTED naming the route and the API, logged at warn once per API', async () => {
    const cases: [string, string, string, Record<string, string>?][] = [
      ['POST', '/v1.0/invoke/other-app/method/orders', 'service invocation'],
      ['GET', '/v1.0/secrets/vault/db-password', 'secrets'],
      ['GET', '/v1.0/secrets/vault/bulk', 'secrets'],
      ['GET', '/v1.0/actors/Cart/c1/state/items', 'actors'],
      ['GET', '/v1.0/configuration/cfg', 'configuration'],
      ['GET', '/v1.0-alpha1/configuration/cfg/subscribe', 'configuration'],
      ['POST', '/v1.0-alpha1/lock/lockstore', 'distributed lock'],
      ['POST', '/v1.0-alpha1/unlock/lockstore', 'distributed lock'],
      ['POST', '/v1.0-beta1/workflows/dapr/order/start', 'workflows'],
      ['POST', '/v1.0-alpha1/crypto/keys/encrypt', 'cryptography'],
      ['POST', '/v1.0-alpha1/jobs/nightly', 'jobs'],
      ['POST', '/v1.0-alpha1/conversation/llm/converse', 'conversation'],
      ['GET', '/orders/42', 'service invocation', { 'dapr-app-id': 'other-app' }],
    ];
    for (const [method, path, api, headers] of cases) {
      const r = await sc.json(method, `${path}?metadata.x=1`, method === 'GET' ? undefined : '{}', headers);
      assert.equal(r.status, 501, `${method} ${path}: ${r.text}`);
      assert.deepEqual(r.body, {
        errorCode: 'ERR_API_UNIMPLEMENTED',
        message: `this API is not implemented: ${method} ${path}: ${api} is not supported by mortar 0.1.0`,
      });
    }
    for (const api of new Set(cases.map((c) => c[2]))) {
      const lines = sc.logs.filter((l) => l.startsWith('WARN') && l.includes(`${api} is not supported by mortar`));
      assert.equal(lines.length, 1, `one warning for ${api}:\n${sc.logs.slice(-40).join('\n')}`);
    }
  });

  it("a path that is no Dapr API answers 404 in Dapr's format naming the route, not ERR_DIRECT_INVOKE", async () => {
    for (const [method, path] of [
      ['GET', '/v1.0/nothing-here'],
      ['DELETE', '/v1.0/metadata'],
      ['GET', '/favicon.ico'],
    ] as const) {
      const r = await sc.json(method, path);
      assert.equal(r.status, 404);
      assert.deepEqual(r.body, { errorCode: 'ERR_BAD_REQUEST', message: `invalid request: no route ${method} ${path} in mortar 0.1.0` });
    }
  });
});

describe('POST /v1.0/shutdown', () => {
  /** The sidecar's exit code, or 'still running' after `ms`. */
  const exitWithin = (sc: Sidecar, ms: number) =>
    Promise.race([
      new Promise((r) => (sc.proc.exitCode !== null ? r(sc.proc.exitCode) : sc.proc.once('exit', (c) => r(c)))),
      new Promise((r) => setTimeout(() => r('still running'), ms)),
    ]);

  it('answers 204 through the official client, then the sidecar stops gracefully and exits 0 within 3 s', async () => {
    const sc = await Sidecar.start();
    try {
      const { DaprClient } = await import('@dapr/dapr');
      const client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(sc.port) });
      await client.sidecar.shutdown();
      assert.equal(await exitWithin(sc, 3000), 0);
      assert.ok(sc.logs.some((l) => l.includes('the Shutdown API')));
    } finally {
      await sc.stop();
    }
  });

  it('with dapr-force-shutdown: true answers 204 and exits with code 1 at once, as daprd', async () => {
    const sc = await Sidecar.start();
    try {
      const r = await sc.fetch('/v1.0/shutdown', { method: 'POST', headers: { 'dapr-force-shutdown': 'true' } });
      assert.equal(r.status, 204);
      assert.equal(await exitWithin(sc, 1500), 1);
    } finally {
      await sc.stop();
    }
  });
});
