/**
 * The sidecar's gRPC API (`dapr.proto.runtime.v1.Dapr` on `--dapr-grpc-port`) end to end: the official
 * `@dapr/dapr` DaprClient over `CommunicationProtocolEnum.GRPC` against one real `mortar` process, with
 * `DAPR_API_TOKEN` set (so every SDK call below also proves the token is accepted), an HTTP subscriber app, the
 * embedded-default-like `statestore` (state.sqlite) and `pubsub` (in-memory), and the `bindings.echo-fixture`
 * output binding. A raw @grpc/grpc-js client (`helpers/grpc.ts`) checks what the SDK does not expose: the
 * health service, the `grpc-status-details-bin` trailer, the token's refusal, unserved methods.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import type { ServiceError } from '@grpc/grpc-js';
import { Sidecar, TEST_COMPONENTS, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { RawGrpc, richStatus } from '../helpers/grpc.js';
import { waitUntil } from '../helpers/wait.js';

const TOKEN = 'grpc-e2e-token';
const APP_ID = 'grpc-e2e';
const run = randomUUID().slice(0, 8);
const TOPIC = `grpc-orders-${run}`;
const BULK_TOPIC = `grpc-bulk-${run}`;
/** `--max-body-size` of this sidecar: a larger gRPC request is refused. */
const MAX_BODY = 64 * 1024;

/** gRPC status codes used below. */
const Code = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, RESOURCE_EXHAUSTED: 8, ABORTED: 10, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16 } as const;

/** Asserts `p` rejects with gRPC status `code` (the SDK's ConnectError and grpc-js's ServiceError both carry `code`). */
async function rejectsWith(p: Promise<unknown>, code: number, message?: RegExp): Promise<void> {
  type Failure = { code?: number; message?: string; rawMessage?: string; details?: unknown };
  await assert.rejects(p, (err: Failure & { error?: Failure }) => {
    const e = err.error ?? err; // the SDK's publish wraps the error as { error }
    assert.equal(e.code, code, `code ${e.code}: ${e.message}`);
    // The SDK's ConnectError has the status message as `rawMessage`; grpc-js's ServiceError as `details`.
    const text = e.rawMessage ?? (typeof e.details === 'string' ? e.details : '');
    if (message) assert.match(text, message);
    return true;
  });
}

describe('gRPC API: @dapr/dapr DaprClient over gRPC against mortar', () => {
  let sc: Sidecar;
  let app: SubscriberApp;
  let client: DaprClient;
  let raw: RawGrpc;

  before(async () => {
    const dir = tempDir('grpc-api');
    writeComponent(dir, 'statestore.yaml', 'statestore', 'state.sqlite', { connectionString: 'state.db' });
    writeComponent(dir, 'pubsub.yaml', 'pubsub', 'pubsub.in-memory');
    copyFileSync(join(TEST_COMPONENTS, 'bindings.echo-fixture.wasm'), join(dir, 'bindings.echo-fixture.wasm'));
    writeComponent(dir, 'orders.yaml', 'orders', 'bindings.echo-fixture', { direction: 'output' });
    app = await SubscriberApp.start([
      { pubsubname: 'pubsub', topic: TOPIC, route: '/orders' },
      { pubsubname: 'pubsub', topic: BULK_TOPIC, route: '/bulk' },
    ]);
    const grpcPort = await freePort();
    sc = await Sidecar.start({
      appId: APP_ID,
      resourcesPath: dir,
      args: ['--app-port', String(app.port), '--dapr-grpc-port', String(grpcPort), '--max-body-size', String(MAX_BODY)],
      env: { DAPR_API_TOKEN: TOKEN },
    });
    client = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(sc.grpcPort),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      daprApiToken: TOKEN,
    });
    await client.start();
    raw = new RawGrpc(sc.grpcPort);
    await sc.waitForLog((l) => l.includes(`subscribed to pubsub`) && l.includes(BULK_TOPIC));
  });
  after(async () => {
    raw?.close();
    await client?.stop().catch(() => undefined);
    await sc?.stop();
    await app?.close();
  });

  it('grpc.health.v1.Health/Check answers SERVING (1) for the server and the Dapr service, without the API token, and NOT_FOUND for another service', async () => {
    assert.equal(await raw.health(), 1);
    assert.equal(await raw.health('dapr.proto.runtime.v1.Dapr'), 1);
    await rejectsWith(raw.health('no.such.Service'), Code.NOT_FOUND);
  });

  it("DAPR_API_TOKEN: a call without dapr-api-token or with a wrong one is UNAUTHENTICATED with daprd's messages; with the token it is served", async () => {
    await rejectsWith(raw.call('GetMetadata', {}), Code.UNAUTHENTICATED, /^missing api token in request metadata$/);
    await rejectsWith(raw.call('GetMetadata', {}, 'wrong'), Code.UNAUTHENTICATED, /^authentication error: api token mismatch$/);
    // Even a method mortar does not serve is refused for the token first.
    await rejectsWith(raw.call('GetSecret', { storeName: 's', key: 'k' }), Code.UNAUTHENTICATED);
    // State written without a token never reaches the store.
    await rejectsWith(raw.call('SaveState', { storeName: 'statestore', states: [{ key: `tok-${run}`, value: Buffer.from('"x"') }] }), Code.UNAUTHENTICATED);
    assert.equal(await client.state.get('statestore', `tok-${run}`), '');
    const md = await raw.call<{ id: string }>('GetMetadata', {}, TOKEN);
    assert.equal(md.id, APP_ID);
  });

  it('state: save then get round-trips a JSON value and a string; a missing key reads as empty', async () => {
    await client.state.save('statestore', [
      { key: `obj-${run}`, value: { n: 1, tags: ['a', 'b'] } },
      { key: `str-${run}`, value: 'plain text' },
    ]);
    assert.deepEqual(await client.state.get('statestore', `obj-${run}`), { n: 1, tags: ['a', 'b'] });
    assert.equal(await client.state.get('statestore', `str-${run}`), 'plain text');
    assert.equal(await client.state.get('statestore', `missing-${run}`), '');
    // The raw response of a missing key is empty: no data, no ETag.
    const r = await raw.call<{ data: Buffer; etag: string }>('GetState', { storeName: 'statestore', key: `missing-${run}` }, TOKEN);
    assert.equal(r.data.length, 0);
    assert.equal(r.etag, '');
  });

  it('state: getBulk answers every key in order with its data and ETag; a missing key has neither', async () => {
    await client.state.save('statestore', [
      { key: `b1-${run}`, value: { v: 1 } },
      { key: `b2-${run}`, value: { v: 2 } },
    ]);
    const items = await client.state.getBulk('statestore', [`b2-${run}`, `nope-${run}`, `b1-${run}`]);
    assert.deepEqual(
      items.map((i) => [i.key, i.data]),
      [
        [`b2-${run}`, { v: 2 }],
        [`nope-${run}`, ''],
        [`b1-${run}`, { v: 1 }],
      ],
    );
    assert.match(items[0]!.etag!, /^[0-9a-f]+$/);
    assert.equal(items[1]!.etag, '');
  });

  it('state ETags: a save or delete with the current ETag succeeds; with a stale one it is ABORTED and nothing changes', async () => {
    const key = `etag-${run}`;
    await client.state.save('statestore', [{ key, value: { v: 1 } }]);
    const etag1 = (await client.state.getBulk('statestore', [key]))[0]!.etag!;
    await client.state.save('statestore', [{ key, value: { v: 2 }, etag: etag1 }]);
    const etag2 = (await client.state.getBulk('statestore', [key]))[0]!.etag!;
    assert.notEqual(etag2, etag1);
    await rejectsWith(client.state.save('statestore', [{ key, value: { v: 3 }, etag: etag1 }]), Code.ABORTED, /possible etag mismatch/);
    await rejectsWith(client.state.delete('statestore', key, { etag: etag1 }), Code.ABORTED, /possible etag mismatch/);
    assert.deepEqual(await client.state.get('statestore', key), { v: 2 });
    await client.state.delete('statestore', key, { etag: etag2 });
    assert.equal(await client.state.get('statestore', key), '');
  });

  it('state transaction: upserts and deletes apply together; an unknown operation type is UNIMPLEMENTED and applies nothing', async () => {
    await client.state.save('statestore', [{ key: `tx-old-${run}`, value: 'old' }]);
    await client.state.transaction('statestore', [
      { operation: 'upsert', request: { key: `tx-new-${run}`, value: 'new' } },
      { operation: 'delete', request: { key: `tx-old-${run}` } },
    ]);
    assert.equal(await client.state.get('statestore', `tx-new-${run}`), 'new');
    assert.equal(await client.state.get('statestore', `tx-old-${run}`), '');
    await rejectsWith(
      client.state.transaction('statestore', [
        { operation: 'upsert', request: { key: `tx-never-${run}`, value: 'x' } },
        { operation: 'merge' as 'upsert', request: { key: `tx-new-${run}`, value: 'y' } },
      ]),
      Code.UNIMPLEMENTED,
      /^operation type merge not supported$/,
    );
    assert.equal(await client.state.get('statestore', `tx-never-${run}`), '');
  });

  it('DeleteBulkState (no SDK wrapper; raw call) deletes every key given', async () => {
    await client.state.save('statestore', [
      { key: `db1-${run}`, value: 1 },
      { key: `db2-${run}`, value: 2 },
      { key: `db3-${run}`, value: 3 },
    ]);
    await raw.call('DeleteBulkState', { storeName: 'statestore', states: [{ key: `db1-${run}` }, { key: `db2-${run}` }] }, TOKEN);
    const items = await client.state.getBulk('statestore', [`db1-${run}`, `db2-${run}`, `db3-${run}`]);
    assert.deepEqual(
      items.map((i) => i.data),
      ['', '', 3],
    );
  });

  it('an unknown state store is INVALID_ARGUMENT with ErrorInfo {reason DAPR_STATE_NOT_FOUND, domain dapr.io, metadata appID} in grpc-status-details-bin', async () => {
    const err = await raw.call('GetState', { storeName: 'nostore', key: 'k' }, TOKEN).then(
      () => assert.fail('resolved'),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.equal(err.details, 'state store nostore is not found');
    assert.deepEqual(richStatus(err), {
      code: Code.INVALID_ARGUMENT,
      message: 'state store nostore is not found',
      details: [
        {
          typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo',
          errorInfo: { reason: 'DAPR_STATE_NOT_FOUND', domain: 'dapr.io', metadata: { appID: APP_ID } },
        },
      ],
    });
    // The SDK sees the same status and its ErrorInfo detail.
    await assert.rejects(client.state.save('nostore', [{ key: 'k', value: 1 }]), (e: { code: number; details: Array<{ type: string }> }) => {
      assert.equal(e.code, Code.INVALID_ARGUMENT);
      assert.deepEqual(
        e.details.map((d) => d.type),
        ['google.rpc.ErrorInfo'],
      );
      return true;
    });
  });

  it('QueryStateAlpha1 on a store without query answers as daprd does for one: UNIMPLEMENTED naming the store', async () => {
    await rejectsWith(client.state.query('statestore', { filter: {}, sort: [], page: { limit: 1 } }), Code.UNIMPLEMENTED, /statestore doesn't support query/);
  });

  it('PublishEvent: the subscriber app gets the JSON event as a CloudEvent from this app, on its route', async () => {
    const id = randomUUID();
    assert.deepEqual(await client.pubsub.publish('pubsub', TOPIC, { id, n: 7 }), {});
    const mine = () => app.on('/orders').find((d) => (d.event?.data as { id?: string } | undefined)?.id === id);
    await app.until(() => mine() !== undefined, 15_000, 'the published event');
    const ev = mine()!.event!;
    assert.deepEqual(ev.data, { id, n: 7 });
    assert.equal(ev.source, APP_ID);
    assert.equal(ev.topic, TOPIC);
    assert.equal(ev.pubsubname, 'pubsub');
    assert.equal(ev.datacontenttype, 'application/json');
  });

  it('PublishEvent to an unknown pub/sub is INVALID_ARGUMENT with ErrorInfo DAPR_PUBSUB_NOT_FOUND', async () => {
    const err = await raw.call('PublishEvent', { pubsubName: 'nopubsub', topic: 't', data: Buffer.from('{}') }, TOKEN).then(
      () => assert.fail('resolved'),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.equal(richStatus(err).details[0]?.errorInfo?.reason, 'DAPR_PUBSUB_NOT_FOUND');
    await rejectsWith(client.pubsub.publish('nopubsub', 't', { x: 1 }), Code.INVALID_ARGUMENT, /pubsub nopubsub is not found/);
  });

  it('bulk publish: the SDK (BulkPublishEventAlpha1) and a raw BulkPublishEvent publish every entry, no failed entries, each delivered', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const res = await client.pubsub.publishBulk(
      'pubsub',
      BULK_TOPIC,
      ids.map((id) => ({ id })),
    );
    assert.deepEqual(res.failedMessages, []);
    const viaRaw = await raw.call<{ failedEntries: unknown[] }>(
      'BulkPublishEvent',
      {
        pubsubName: 'pubsub',
        topic: BULK_TOPIC,
        entries: [
          { entryId: '1', event: Buffer.from(JSON.stringify({ id: 'raw-1' })), contentType: 'application/json' },
          { entryId: '2', event: Buffer.from('raw-2'), contentType: 'text/plain' },
        ],
      },
      TOKEN,
    );
    assert.deepEqual(viaRaw.failedEntries, []);
    const seen = () => app.on('/bulk').map((d) => d.event?.data);
    await app.until(() => ids.every((id) => seen().some((x) => (x as { id?: string })?.id === id)) && seen().includes('raw-2'), 15_000, 'five bulk entries');
    assert.ok(seen().some((x) => (x as { id?: string })?.id === 'raw-1'));
  });

  it('bulk publish with a duplicate entry id is refused as a whole (INVALID_ARGUMENT, ErrorInfo DAPR_PUBSUB_MARSHAL_EVENTS)', async () => {
    const err = await raw
      .call(
        'BulkPublishEvent',
        {
          pubsubName: 'pubsub',
          topic: BULK_TOPIC,
          entries: [
            { entryId: 'x', event: Buffer.from('a') },
            { entryId: 'x', event: Buffer.from('b') },
          ],
        },
        TOKEN,
      )
      .then(
        () => assert.fail('resolved'),
        (e: ServiceError) => e,
      );
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.match(err.details, /entryId 'x' is not unique/);
    assert.equal(richStatus(err).details[0]?.errorInfo?.reason, 'DAPR_PUBSUB_MARSHAL_EVENTS');
  });

  it('InvokeBinding: binding.send returns the data and metadata the output binding answered; an unknown binding is an error naming it', async () => {
    type Sent = { data: Uint8Array; metadata: Record<string, string> };
    const r = (await client.binding.send('orders', 'echo', { orderId: 42 }, { key: 'v' })) as Sent;
    assert.deepEqual(JSON.parse(Buffer.from(r.data).toString('utf8')), { orderId: 42 });
    assert.equal(r.metadata.key, 'v');
    const none = (await client.binding.send('orders', 'none', 'x')) as Sent;
    assert.equal(none.data.length, 0);
    await assert.rejects(client.binding.send('missing', 'echo', 1), (e: { code: number; rawMessage: string }) => {
      assert.equal(e.code, 13);
      assert.equal(e.rawMessage, "error invoking output binding missing: couldn't find output binding missing");
      return true;
    });
  });

  it("GetMetadata lists this app's id, components with capabilities, subscriptions and app connection; SetMetadata adds an extended key", async () => {
    assert.equal(await client.metadata.set(`k-${run}`, 'value 1'), true);
    const md = await client.metadata.get();
    assert.equal(md.id, APP_ID);
    assert.deepEqual(md.components.map((c) => `${c.name}:${c.type}`).sort(), [
      'orders:bindings.echo-fixture',
      'pubsub:pubsub.in-memory',
      'statestore:state.sqlite',
    ]);
    assert.ok(md.components.find((c) => c.name === 'statestore')!.capabilities!.includes('ETAG'));
    assert.deepEqual(md.components.find((c) => c.name === 'orders')!.capabilities, ['OUTPUT_BINDING']);
    assert.equal(md.extended[`k-${run}`], 'value 1');
    assert.equal(md.extended.daprRuntimeVersion, '0.1.0');
    const full = await raw.call<{
      subscriptions: Array<{ pubsubName: string; topic: string; rules: { rules: Array<{ path: string }> }; type: string }>;
      appConnectionProperties: { port: number; protocol: string };
      runtimeVersion: string;
    }>('GetMetadata', {}, TOKEN);
    const sub = full.subscriptions.find((s) => s.topic === TOPIC)!;
    assert.equal(sub.pubsubName, 'pubsub');
    assert.deepEqual(
      sub.rules.rules.map((r) => r.path),
      ['/orders'],
    );
    assert.equal(sub.type, 'PROGRAMMATIC');
    assert.equal(full.appConnectionProperties.port, app.port);
    assert.equal(full.appConnectionProperties.protocol, 'http');
    assert.equal(full.runtimeVersion, '0.1.0');
  });

  it('methods mortar does not serve answer UNIMPLEMENTED naming the method, unary and streaming alike', async () => {
    await rejectsWith(raw.call('GetSecret', { storeName: 's', key: 'k' }, TOKEN), Code.UNIMPLEMENTED, /GetSecret/);
    await rejectsWith(raw.call('TryLockAlpha1', { storeName: 'l' }, TOKEN), Code.UNIMPLEMENTED, /TryLockAlpha1/);
    const ended = await raw.bidi('EncryptAlpha1', TOKEN);
    assert.equal(ended.code, Code.UNIMPLEMENTED);
    assert.match(ended.details, /EncryptAlpha1/);
  });

  it('a request that is not a valid protobuf message is INVALID_ARGUMENT naming the method', async () => {
    // An unknown field (15) with wire type 7, which protobuf does not have.
    await rejectsWith(
      raw.callBytes('SaveState', Buffer.from([0x7f, 0x01]), TOKEN),
      Code.INVALID_ARGUMENT,
      /^cannot decode the SaveState request: invalid wire type 7/,
    );
  });

  it('a request larger than --max-body-size is refused with RESOURCE_EXHAUSTED and not applied', async () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    await rejectsWith(client.state.save('statestore', [{ key: `big-${run}`, value: big }]), Code.RESOURCE_EXHAUSTED);
    assert.equal(await client.state.get('statestore', `big-${run}`), '');
    // Just under the limit is served.
    await client.state.save('statestore', [{ key: `big-${run}`, value: 'x'.repeat(MAX_BODY - 200) }]);
    assert.equal((await client.state.get('statestore', `big-${run}`)).length, MAX_BODY - 200);
  });

  // Last: it stops the sidecar.
  it('Shutdown answers, then the sidecar stops gracefully and exits 0 within 3 s', async () => {
    await client.sidecar.shutdown();
    // Waits for the exit without signalling the process (as `sc.stop()` would).
    const exited = new Promise((r) => (sc.proc.exitCode !== null ? r(sc.proc.exitCode) : sc.proc.once('exit', (c) => r(c))));
    // Well within the graceful shutdown time (5 s): nothing was in flight, and the connections the clients left
    // open (one with a refused oversized request among them) do not hold the stop.
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 3000))]);
    assert.equal(code, 0);
    assert.ok(sc.logs.some((l) => l.includes('the Shutdown API')));
  });
});

describe('gRPC API: graceful stop', () => {
  it('on SIGTERM a gRPC call in flight (an output binding waiting 800 ms for its server) is answered, then the sidecar exits 0', async () => {
    let arrived = false;
    const target = createServer((_req, res) => {
      arrived = true;
      setTimeout(() => res.end('slow answer'), 800);
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const dir = tempDir('grpc-graceful');
    writeComponent(dir, 'slow.yaml', 'slow', 'bindings.http', { url: `http://127.0.0.1:${(target.address() as AddressInfo).port}/slow` });
    const sc = await Sidecar.start({ appId: 'grpc-graceful', resourcesPath: dir });
    const raw = new RawGrpc(sc.grpcPort);
    try {
      const call = raw.call<{ data: Buffer }>('InvokeBinding', { name: 'slow', operation: 'get' });
      await waitUntil(() => arrived, 'the binding request at its server');
      const exited = new Promise((r) => sc.proc.once('exit', (c) => r(c)));
      sc.proc.kill('SIGTERM');
      const t0 = Date.now();
      assert.equal((await call).data.toString('utf8'), 'slow answer');
      assert.equal(await exited, 0);
      assert.ok(Date.now() - t0 < 3000, `stopped ${Date.now() - t0} ms after SIGTERM, not at the 5 s deadline`);
    } finally {
      raw.close();
      await sc.stop();
      target.closeAllConnections();
      await new Promise((r) => target.close(r));
    }
  });
});
