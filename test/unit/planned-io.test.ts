/**
 * The I/O of planned calls performed in a sandbox worker (`sandbox/planned-io.ts`): an HTTP plan is granted,
 * refused, sent and bounded exactly as `http.send` is on the capability thread, against a real local server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PlannedIo } from '../../host/src/components/sandbox/planned-io.js';
import { sharedClock } from '../../host/src/components/sandbox/protocol.js';
import { ComponentHostEndpoint } from '../../host/src/capabilities/host-endpoint.js';
import { grantsFromSchema } from '../../host/src/capabilities/grants.js';
import { RedisClients } from '../../host/src/capabilities/redis.js';
import { SqlDatabases } from '../../host/src/capabilities/sql.js';
import { tempDir } from '../helpers/sidecar.js';
import type { HttpRequest } from '../../host/src/capabilities/http.js';

const SCHEMA = JSON.stringify({ type: 'object', properties: { url: { type: 'string', 'x-mortar-grant': 'http' } } });

describe('planned I/O in the sandbox worker', () => {
  let server: Server;
  let base: string;
  const warned: string[] = [];
  let io: PlannedIo;
  let endpoint: ComponentHostEndpoint;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/never') return; // holds the request until the client gives up
      res.setHeader('x-path', req.url ?? '');
      res.end(`${req.method} ${req.headers['content-type'] ?? '-'}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const metadata = { url: `${base}/api` };
    io = new PlannedIo('web', 5000, { schema: SCHEMA, metadata }, (m) => warned.push(m));
    const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
    endpoint = new ComponentHostEndpoint(
      'web',
      grantsFromSchema(JSON.parse(SCHEMA), metadata),
      { redis: new RedisClients(), sql: new SqlDatabases(tempDir('planned-io')) },
      log,
    );
  });
  after(async () => {
    await endpoint.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const request = (url: string): HttpRequest => ({ method: 'POST', url, headers: [['content-type', 'text/plain']], body: new Uint8Array([104, 105]) });

  it('refuses an origin the metadata does not grant with the very error and log line of the capability thread', async () => {
    const req = request('http://127.0.0.1:1/elsewhere');
    const planned = await io.httpSend(req, sharedClock() + 1000);
    const bridged = await endpoint.dispatch('http.send', [req], 1000).then(
      () => assert.fail('the capability thread sent it'),
      (e: unknown) => e,
    );
    assert.deepEqual(planned, { tag: 'err', val: bridged });
    assert.deepEqual(bridged, { tag: 'access-denied', val: 'http http://127.0.0.1:1 is not granted to component web' });
    assert.deepEqual(warned, ['component web may not reach http http://127.0.0.1:1: not granted by its metadata']);
  });

  it('sends a granted request and answers what http.send answers: status, headers, body', async () => {
    const req = request(`${base}/api/x?q=1`);
    const planned = await io.httpSend(req, sharedClock() + 1000);
    assert.equal(planned.tag, 'ok');
    const bridged = (await endpoint.dispatch('http.send', [req], 1000)) as { status: number; headers: Array<[string, string]>; body: Uint8Array };
    const p = planned.val as typeof bridged;
    assert.equal(p.status, 200);
    assert.equal(Buffer.from(p.body).toString(), 'POST text/plain');
    assert.deepEqual(
      p.headers.find(([k]) => k === 'x-path'),
      ['x-path', '/api/x?q=1'],
    );
    assert.equal(p.status, bridged.status);
    assert.deepEqual(Buffer.from(p.body), Buffer.from(bridged.body));
    assert.deepEqual(
      p.headers.map(([k]) => k),
      bridged.headers.map(([k]) => k),
    );
  });

  it("gives up on a server that does not answer before the call's deadline, as unavailable", async () => {
    const t0 = performance.now();
    const r = await io.httpSend(request(`${base}/never`), sharedClock() + 300);
    const ms = performance.now() - t0;
    assert.equal(r.tag, 'err');
    assert.equal((r.val as { tag: string }).tag, 'unavailable');
    assert.ok(ms >= 200 && ms < 1000, `gave up after ${Math.round(ms)} ms`);
  });
});
