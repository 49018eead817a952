/**
 * The HTTP app channel's headers: message and binding metadata travel as headers, but never the ones only the
 * channel may set (framing, connection handling, host, the app token).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppChannel } from '../../host/src/app-channel/http-channel.js';

describe('app channel headers', () => {
  let server: http.Server;
  let seen: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  let port = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const hostile = {
    'transfer-encoding': 'chunked',
    'Content-Length': '1',
    connection: 'upgrade',
    upgrade: 'websocket',
    expect: '100-continue',
    host: 'evil.example',
    'dapr-api-token': 'forged',
    te: 'trailers',
    'x-event-id': '42',
    pubsubname: 'orders',
  };

  it('metadata headers reach the app; framing, connection, host and token headers from metadata are left out', async () => {
    seen = [];
    const app = new AppChannel({ host: '127.0.0.1', port, appId: 'a' });
    try {
      const res = await app.request('POST', '/in', Buffer.from('hello'), hostile, 2000);
      assert.equal(res.status, 200);
    } finally {
      app.close();
    }
    const [got] = seen;
    assert.equal(got!.body, 'hello');
    assert.equal(got!.headers['content-length'], '5');
    assert.equal(got!.headers['transfer-encoding'], undefined);
    assert.equal(got!.headers.upgrade, undefined);
    assert.equal(got!.headers.expect, undefined);
    assert.equal(got!.headers.te, undefined);
    assert.equal(got!.headers.host, `127.0.0.1:${port}`);
    assert.equal(got!.headers['dapr-api-token'], undefined);
    assert.notEqual(got!.headers.connection, 'upgrade');
    assert.equal(got!.headers['x-event-id'], '42');
    assert.equal(got!.headers.pubsubname, 'orders');
  });

  it("the app token is the channel's own (APP_API_TOKEN), whatever a message's metadata says", async () => {
    seen = [];
    const app = new AppChannel({ host: '127.0.0.1', port, appId: 'a', appToken: 'real' });
    try {
      await app.request('POST', '/in', Buffer.from('x'), hostile, 2000);
    } finally {
      app.close();
    }
    assert.equal(seen[0]!.headers['dapr-api-token'], 'real');
  });
});
