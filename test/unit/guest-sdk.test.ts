/**
 * The engine-free parts of the guest SDK (sdk-guest/src): routing by method and path, Dapr subscriptions over
 * the router, and the SDK's own UTF-8 (for engines without TextEncoder), run in Node.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toBytes, utf8Decode, utf8Encode } from '../../sdk-guest/src/bytes.js';
import { HttpError, parseQuery, Router, type Request } from '../../sdk-guest/src/router.js';
import { Subscriptions } from '../../sdk-guest/src/subscriptions.js';

function request(method: string, path: string, body = '', query = ''): Omit<Request, 'params'> {
  const bytes = new Uint8Array(Buffer.from(body));
  return {
    method,
    path,
    query: parseQuery(query),
    headers: {},
    body: bytes,
    text: () => body,
    json: <T>() => {
      try {
        return JSON.parse(body) as T;
      } catch (e) {
        throw new SyntaxError(`request body is not JSON: ${(e as Error).message}`);
      }
    },
  };
}

describe('guest SDK: router', () => {
  const router = new Router()
    .get('/orders/:id', (req) => ({ body: { id: req.params.id, q: req.query.q } }))
    .post('/orders', (req) => ({ status: 201, body: req.json() }))
    .get('/teapot', () => {
      throw new HttpError(418, 'short and stout');
    })
    .get('/boom', () => {
      throw new Error('kaput');
    })
    .delete('/orders/:id', () => undefined);

  it('matches method and path, decodes :params and the query', () => {
    assert.deepEqual(router.handle(request('GET', '/orders/a%20b', '', 'q=x+y&q=z')), { body: { id: 'a b', q: 'x y' } });
    assert.deepEqual(router.handle(request('POST', '/orders', '{"n":1}')), { status: 201, body: { n: 1 } });
    assert.deepEqual(router.handle(request('DELETE', '/orders/1')), { status: 204 }, 'a handler answering nothing is 204');
  });

  it('answers 404 for no route, 405 for another method, the HttpError status, 400 for a body that is not JSON, 500 for the rest', () => {
    assert.equal(router.handle(request('GET', '/nothing')).status, 404);
    assert.equal(router.handle(request('PUT', '/orders')).status, 405);
    assert.deepEqual(router.handle(request('GET', '/teapot')), { status: 418, body: 'short and stout' });
    const bad = router.handle(request('POST', '/orders', 'not json'));
    assert.equal(bad.status, 400);
    assert.match(String(bad.body), /request body is not JSON/);
    assert.deepEqual(router.handle(request('GET', '/boom')), { status: 500, body: 'Error: kaput' });
  });
});

describe('guest SDK: subscriptions', () => {
  it('GET /dapr/subscribe lists them as Dapr reads them; a delivery is settled by what the handler returns (throwing retries)', () => {
    const router = new Router();
    const seen: unknown[] = [];
    new Subscriptions(router)
      .add({ pubsubName: 'pubsub', topic: 'orders', route: '/events/orders', deadLetterTopic: 'dead' }, (e) => {
        seen.push([e.id, e.source, e.data]);
        return (e.data as { drop?: boolean }).drop ? 'DROP' : undefined;
      })
      .add({ pubsubName: 'pubsub', topic: 'fails', route: '/events/fails', metadata: { rawPayload: 'true' } }, () => {
        throw new Error('not now');
      });
    assert.deepEqual(router.handle(request('GET', '/dapr/subscribe')).body, [
      { pubsubname: 'pubsub', topic: 'orders', route: '/events/orders', deadLetterTopic: 'dead' },
      { pubsubname: 'pubsub', topic: 'fails', route: '/events/fails', metadata: { rawPayload: 'true' } },
    ]);
    const ce = (data: unknown) => JSON.stringify({ id: 'e1', source: 'billing', type: 'com.dapr.event.sent', specversion: '1.0', data });
    assert.deepEqual(router.handle(request('POST', '/events/orders', ce({ n: 1 }))), { status: 200, body: { status: 'SUCCESS' } });
    assert.deepEqual(router.handle(request('POST', '/events/orders', ce({ drop: true }))), { status: 200, body: { status: 'DROP' } });
    assert.deepEqual(seen, [
      ['e1', 'billing', { n: 1 }],
      ['e1', 'billing', { drop: true }],
    ]);
    assert.deepEqual(router.handle(request('POST', '/events/fails', 'raw bytes')), { status: 200, body: { status: 'RETRY', message: 'not now' } });
  });
});

describe('guest SDK: bytes', () => {
  it("its own UTF-8 agrees with Node's for every plane, and a truncated sequence decodes to U+FFFD", () => {
    for (const s of ['', 'ascii', 'café', '€ 100', '日本語', 'emoji 🎉 and 𝄞', '\u0000nul']) {
      assert.deepEqual(Buffer.from(utf8Encode(s)), Buffer.from(s, 'utf8'), s);
      assert.equal(utf8Decode(new Uint8Array(Buffer.from(s, 'utf8'))), s);
    }
    assert.equal(utf8Decode(new Uint8Array([0x61, 0xe2, 0x82])), 'a\ufffd');
  });

  it('values become bytes as they are (bytes, text) or as JSON (anything else)', () => {
    assert.deepEqual(toBytes(new Uint8Array([0, 255])), { bytes: new Uint8Array([0, 255]), json: false });
    assert.equal(Buffer.from(toBytes('hi').bytes).toString(), 'hi');
    assert.deepEqual({ ...toBytes({ n: 1 }), bytes: Buffer.from(toBytes({ n: 1 }).bytes).toString() }, { bytes: '{"n":1}', json: true });
  });
});
