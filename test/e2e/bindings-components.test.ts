/**
 * Every built-in binding component behind one real `mortar` process, driven with the official `@dapr/dapr`
 * SDK: `DaprClient.binding.send` for the output side and `DaprServer.binding.receive` as the app of the
 * input side, against real servers (Redis, PostgreSQL, RabbitMQ, Mosquitto, a local HTTP server, a temp
 * directory, the clock). For each binding, components-contrib's bindings conformance steps (`dapr-api.md`
 * §3.3: operations listed, create, get returns what was created, list, delete then get returns nothing,
 * read: input events arrive), through the sidecar, each checked at the backend itself (ioredis, pg,
 * amqplib, mqtt, the HTTP server's log, the file system); and the metadata API's capabilities.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient, DaprServer } from '@dapr/dapr';
import { Redis } from 'ioredis';
import pg from 'pg';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { AMQP_URL, MQTT_URL, PG_URL, REDIS_HOST, Sidecar, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const run = randomUUID().slice(0, 8);
/**
 * components-contrib's default output data (`tests/conformance/bindings/bindings.go`), as the parsed JSON
 * the SDK sends: the sidecar re-marshals it as Go does (keys sorted, `>` escaped) before the component
 * gets it.
 */
const OUTPUT_DATA = [{ eventType: 'test', eventTime: '2018-01-25T22:12:19.4556811Z', subject: 'dapr-conf-tests', id: 'A234-1234-1234', data: 'root/>' }];
/** The bytes the component gets for `OUTPUT_DATA`. */
const OUTPUT_BYTES =
  '[{"data":"root/\\u003e","eventTime":"2018-01-25T22:12:19.4556811Z","eventType":"test","id":"A234-1234-1234","subject":"dapr-conf-tests"}]';

/** What the SDK's `binding.send` rejected with: the sidecar's status and error body. */
function sendError(err: unknown): { status: number; errorCode: string; message: string } {
  const e = JSON.parse((err as Error).message) as { status: number; error_msg: string };
  return { status: e.status, ...(JSON.parse(e.error_msg) as { errorCode: string; message: string }) };
}

/** The operations the sidecar says binding `name` supports, read from its unsupported-operation error. */
async function operationsOf(client: DaprClient, name: string): Promise<string[]> {
  const err = await client.binding.send(name, 'no-such-operation', null).then(
    () => assert.fail('an unknown operation was accepted'),
    (e: unknown) => sendError(e),
  );
  assert.equal(err.status, 500);
  assert.equal(err.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
  const m = /does not support operation no-such-operation\. supported operations:(.*)$/.exec(err.message);
  assert.ok(m, err.message);
  return m[1]!.split(' ').filter(Boolean);
}

/** One delivery the app took: the data `DaprServer` handed the callback, and when. */
interface Received {
  readonly data: unknown;
  readonly at: number;
}

/**
 * The target of `bindings.http`: a small resource server. POST and PUT store the body at the path, GET
 * answers it (204 when nothing is there), DELETE removes it; every request is recorded.
 */
class Target {
  readonly seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  readonly #stored = new Map<string, string>();
  readonly #server: Server;
  constructor() {
    this.#server = createServer((rq, rs) => {
      const chunks: Buffer[] = [];
      rq.on('data', (c: Buffer) => chunks.push(c));
      rq.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const url = rq.url!;
        this.seen.push({ method: rq.method!, url, headers: rq.headers, body });
        rs.setHeader('X-Target', 'yes');
        if (rq.method === 'POST' || rq.method === 'PUT') {
          const existed = this.#stored.has(url);
          this.#stored.set(url, body);
          rs.writeHead(existed ? 200 : 201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ stored: url }));
        } else if (rq.method === 'GET') {
          const v = this.#stored.get(url);
          if (v === undefined) rs.writeHead(204).end();
          else rs.writeHead(200, { 'Content-Type': 'application/json' }).end(v);
        } else if (rq.method === 'DELETE') {
          rs.writeHead(this.#stored.delete(url) ? 204 : 404).end();
        } else rs.writeHead(405).end();
      });
    });
  }
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }
  listen(): Promise<void> {
    return new Promise((r) => this.#server.listen(0, '127.0.0.1', r));
  }
  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

describe('every built-in binding component through mortar with @dapr/dapr (binding.send, binding.receive)', () => {
  let sc: Sidecar;
  let client: DaprClient;
  let server: DaprServer;
  let redis: Redis;
  let db: pg.Client;
  let amqpConn: amqp.ChannelModel;
  let mqttClient: mqtt.MqttClient;
  const target = new Target();
  const received: Record<string, Received[]> = { rabbit: [], mqtt: [], cron: [] };
  const dir = tempDir('bindings-components');
  const base = tempDir('bindings-files');
  const rootPath = join(base, 'root');
  const names = {
    key: `bind-e2e-${run}`,
    table: `bind_e2e_${run}`,
    queue: `bind-e2e-${run}-in`,
    outQueue: `bind-e2e-${run}-out`,
    topic: `bind/e2e/${run}`,
  };
  let started = 0;

  before(async () => {
    await target.listen();
    mkdirSync(base, { recursive: true });
    writeComponent(dir, 'redis.yaml', 'redis', 'bindings.redis', { redisHost: REDIS_HOST });
    writeComponent(dir, 'pg.yaml', 'pg', 'bindings.postgresql', { connectionString: PG_URL });
    // Both ways, said explicitly: read without an OPTIONS probe.
    writeComponent(dir, 'rabbit.yaml', 'rabbit', 'bindings.rabbitmq', {
      host: AMQP_URL,
      queueName: names.queue,
      durable: 'false',
      deleteWhenUnused: 'false',
      direction: 'input, output',
    });
    // Output only, by direction, though the component has both halves: what it sends is left in its queue.
    writeComponent(dir, 'rabbit-out.yaml', 'rabbit-out', 'bindings.rabbitmq', {
      host: AMQP_URL,
      queueName: names.outQueue,
      durable: 'false',
      deleteWhenUnused: 'false',
      direction: 'output',
    });
    // No direction: both ways, the input side after the OPTIONS probe DaprServer answers.
    writeComponent(dir, 'mqtt.yaml', 'mqtt', 'bindings.mqtt3', { url: MQTT_URL, topic: names.topic, consumerID: `bind-e2e-${run}`, cleanSession: 'true' });
    writeComponent(dir, 'cron.yaml', 'cron', 'bindings.cron', { schedule: '@every 1s' });
    writeComponent(dir, 'http.yaml', 'http', 'bindings.http', { url: `http://127.0.0.1:${target.port}/base` });
    writeComponent(dir, 'files.yaml', 'files', 'bindings.localstorage', { rootPath });

    const [host, port] = REDIS_HOST.split(':');
    redis = new Redis({ host, port: Number(port) });
    db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    amqpConn = await amqp.connect(AMQP_URL);
    mqttClient = await mqtt.connectAsync(MQTT_URL.replace(/^tcp:/, 'mqtt:'), { clientId: `bind-e2e-watch-${run}` });

    const appPort = await freePort();
    sc = await Sidecar.start({ appId: `bindings-${run}`, resourcesPath: dir, args: ['--app-port', String(appPort)] });
    const clientOptions = { daprHost: '127.0.0.1', daprPort: String(sc.port), communicationProtocol: CommunicationProtocolEnum.HTTP };
    server = new DaprServer({ serverHost: '127.0.0.1', serverPort: String(appPort), communicationProtocol: CommunicationProtocolEnum.HTTP, clientOptions });
    for (const name of Object.keys(received)) {
      await server.binding.receive(name, async (data: unknown) => {
        received[name]!.push({ data, at: Date.now() });
      });
    }
    await server.start();
    started = Date.now();
    client = new DaprClient(clientOptions);
    await client.start();
    for (const name of Object.keys(received)) await sc.waitForLog((l) => l.includes(`input binding ${name} reading`), 20_000);
  });

  after(async () => {
    await server?.stop();
    await sc?.stop();
    await client?.stop();
    await target.close();
    await redis?.del(names.key).catch(() => undefined);
    redis?.disconnect();
    await db?.query(`DROP TABLE IF EXISTS ${names.table}`).catch(() => undefined);
    await db?.end();
    if (amqpConn) {
      const ch = await amqpConn.createChannel();
      for (const q of [names.queue, names.outQueue]) await ch.deleteQueue(q).catch(() => undefined);
      await amqpConn.close();
    }
    await mqttClient?.endAsync();
  });

  it('the metadata API lists each binding with its type and INPUT_BINDING / OUTPUT_BINDING as its direction says', async () => {
    const md = await client.metadata.get();
    const bindings = md.components.filter((c) => c.type.startsWith('bindings.'));
    assert.deepEqual(Object.fromEntries(bindings.map((c) => [c.name, [c.type, c.capabilities]])), {
      redis: ['bindings.redis', ['OUTPUT_BINDING']],
      pg: ['bindings.postgresql', ['OUTPUT_BINDING']],
      rabbit: ['bindings.rabbitmq', ['INPUT_BINDING', 'OUTPUT_BINDING']],
      'rabbit-out': ['bindings.rabbitmq', ['OUTPUT_BINDING']],
      mqtt: ['bindings.mqtt3', ['INPUT_BINDING', 'OUTPUT_BINDING']],
      cron: ['bindings.cron', ['INPUT_BINDING']],
      http: ['bindings.http', ['OUTPUT_BINDING']],
      files: ['bindings.localstorage', ['OUTPUT_BINDING']],
    });
  });

  it('an input-only binding is no output binding: binding.send to cron rejects with ERR_INVOKE_OUTPUT_BINDING', async () => {
    const err = await client.binding.send('cron', 'create', 1).then(
      () => assert.fail('sent'),
      (e: unknown) => sendError(e),
    );
    assert.deepEqual(err, {
      status: 500,
      errorCode: 'ERR_INVOKE_OUTPUT_BINDING',
      message: "error invoking output binding cron: couldn't find output binding cron",
    });
  });

  describe('bindings.redis', () => {
    it('operations: create, delete, get, increment are listed', async () => {
      assert.deepEqual(await operationsOf(client, 'redis'), ['create', 'delete', 'get', 'increment']);
    });

    it('create stores the re-marshalled data under the key (read back with ioredis); get answers it', async () => {
      assert.equal(await client.binding.send('redis', 'create', OUTPUT_DATA, { key: names.key }), '');
      assert.equal(await redis.get(names.key), OUTPUT_BYTES, 'the value in Redis is the data as Go re-marshalled it');
      assert.deepEqual(await client.binding.send('redis', 'get', null, { key: names.key }), OUTPUT_DATA);
    });

    it('delete removes the key from Redis; a later get answers empty data', async () => {
      assert.equal(await client.binding.send('redis', 'delete', null, { key: names.key }), '');
      assert.equal(await redis.exists(names.key), 0);
      assert.equal(await client.binding.send('redis', 'get', null, { key: names.key }), '');
    });

    it('a request without key rejects naming it', async () => {
      const err = await client.binding.send('redis', 'get', null).then(
        () => assert.fail('sent'),
        (e: unknown) => sendError(e),
      );
      assert.equal(err.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
      assert.match(err.message, /^error invoking output binding redis: .*key/);
    });
  });

  describe('bindings.postgresql', () => {
    it('operations: exec, query, close are listed', async () => {
      assert.deepEqual((await operationsOf(client, 'pg')).sort(), ['close', 'exec', 'query']);
    });

    it('exec creates a table and inserts rows with params: the rows are in PostgreSQL (read with pg)', async () => {
      await client.binding.send('pg', 'exec', null, { sql: `CREATE TABLE ${names.table} (id int PRIMARY KEY, doc text, ok boolean)` });
      await client.binding.send('pg', 'exec', null, {
        sql: `INSERT INTO ${names.table} (id, doc, ok) VALUES ($1, $2, $3), (2, 'two', false)`,
        params: JSON.stringify([1, OUTPUT_BYTES, true]),
      });
      const rows = await db.query(`SELECT id, doc, ok FROM ${names.table} ORDER BY id`);
      assert.deepEqual(rows.rows, [
        { id: 1, doc: OUTPUT_BYTES, ok: true },
        { id: 2, doc: 'two', ok: false },
      ]);
    });

    it('query answers the rows as JSON arrays of column values: what exec wrote', async () => {
      const rows = await client.binding.send('pg', 'query', null, { sql: `SELECT id, doc, ok FROM ${names.table} WHERE id = $1`, params: '[1]' });
      assert.deepEqual(rows, [[1, OUTPUT_BYTES, true]]);
    });

    it('exec DELETE removes the rows from PostgreSQL; a later query answers no rows', async () => {
      await client.binding.send('pg', 'exec', null, { sql: `DELETE FROM ${names.table} WHERE id = 1` });
      assert.equal((await db.query(`SELECT 1 FROM ${names.table} WHERE id = 1`)).rowCount, 0);
      assert.deepEqual(await client.binding.send('pg', 'query', null, { sql: `SELECT id FROM ${names.table} WHERE id = 1` }), []);
    });

    it('close answers nothing; the next call connects again', async () => {
      assert.equal(await client.binding.send('pg', 'close', null), '');
      assert.deepEqual(await client.binding.send('pg', 'query', null, { sql: `SELECT id FROM ${names.table}` }), [[2]]);
    });

    it("a failing statement rejects with the database's error", async () => {
      const err = await client.binding.send('pg', 'exec', null, { sql: `INSERT INTO ${names.table} (id) VALUES (2)` }).then(
        () => assert.fail('sent'),
        (e: unknown) => sendError(e),
      );
      assert.equal(err.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
      assert.match(err.message, /^error invoking output binding pg: .*duplicate key/);
    });
  });

  describe('bindings.rabbitmq', () => {
    it('operations: create is listed', async () => {
      assert.deepEqual(await operationsOf(client, 'rabbit'), ['create']);
    });

    it('create publishes to queueName: the message is in RabbitMQ with its data, content type and metadata as headers (read with amqplib)', async () => {
      assert.equal(await client.binding.send('rabbit-out', 'create', OUTPUT_DATA, { contentType: 'application/json', orderId: '7' }), '');
      const ch = await amqpConn.createChannel();
      try {
        let msg: amqp.GetMessage | false = false;
        await waitUntil(async () => (msg = await ch.get(names.outQueue, { noAck: true })) !== false, 'the message in the queue', 5000);
        const m = msg as unknown as amqp.GetMessage;
        assert.equal(m.content.toString(), OUTPUT_BYTES);
        assert.equal(m.properties.contentType, 'application/json');
        assert.equal(m.properties.headers?.orderId, '7');
        assert.equal(m.properties.deliveryMode, 2, 'persistent');
      } finally {
        await ch.close();
      }
    });

    it('read: a message published with amqplib reaches DaprServer.binding.receive with its data', async () => {
      const ch = await amqpConn.createConfirmChannel();
      const id = randomUUID();
      ch.sendToQueue(names.queue, Buffer.from(JSON.stringify({ from: 'amqplib', id })), { contentType: 'application/json' });
      await ch.waitForConfirms();
      await ch.close();
      await waitUntil(() => received.rabbit!.some((r) => (r.data as { id?: string }).id === id), 'the amqplib message at the app', 10_000);
      assert.deepEqual(received.rabbit!.find((r) => (r.data as { id?: string }).id === id)!.data, { from: 'amqplib', id });
    });

    it('read: what the output side of the same binding sends reaches the callback once, and is not left in the queue', async () => {
      const id = randomUUID();
      await client.binding.send('rabbit', 'create', { from: 'binding', id });
      await waitUntil(() => received.rabbit!.some((r) => (r.data as { id?: string }).id === id), 'the sent message at the app', 10_000);
      const ch = await amqpConn.createChannel();
      try {
        await waitUntil(async () => (await ch.checkQueue(names.queue)).messageCount === 0, 'the queue drained (acknowledged)', 5000);
      } finally {
        await ch.close();
      }
      assert.equal(received.rabbit!.filter((r) => (r.data as { id?: string }).id === id).length, 1, 'delivered once');
    });
  });

  describe('bindings.mqtt3', () => {
    it('operations: create is listed', async () => {
      assert.deepEqual(await operationsOf(client, 'mqtt'), ['create']);
    });

    it('create publishes to topic: an MQTT subscriber (mqtt.js) gets the data, and so does DaprServer.binding.receive (read)', async () => {
      const got: string[] = [];
      mqttClient.on('message', (topic, payload) => {
        if (topic === names.topic) got.push(payload.toString());
      });
      await mqttClient.subscribeAsync(names.topic, { qos: 1 });
      const id = randomUUID();
      assert.equal(await client.binding.send('mqtt', 'create', { from: 'binding', id }), '');
      await waitUntil(() => got.length > 0, 'the message at the MQTT subscriber', 5000);
      assert.equal(got[0], `{"from":"binding","id":"${id}"}`);
      await waitUntil(() => received.mqtt!.some((r) => (r.data as { id?: string }).id === id), 'the message at the app', 10_000);
    });

    it('create to the request metadata topic goes there, not to the binding topic', async () => {
      const other = `${names.topic}/other`;
      const got: string[] = [];
      mqttClient.on('message', (topic, payload) => {
        if (topic === other) got.push(payload.toString());
      });
      await mqttClient.subscribeAsync(other, { qos: 1 });
      const before = received.mqtt!.length;
      await client.binding.send('mqtt', 'create', { to: 'other' }, { topic: other });
      await waitUntil(() => got.length > 0, 'the message on the other topic', 5000);
      assert.equal(got[0], '{"to":"other"}');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(received.mqtt!.length, before, 'the binding topic got nothing');
    });

    it('read: a message published with mqtt.js reaches the callback with its data', async () => {
      const id = randomUUID();
      await mqttClient.publishAsync(names.topic, JSON.stringify({ from: 'mqtt.js', id }), { qos: 1 });
      await waitUntil(() => received.mqtt!.some((r) => (r.data as { id?: string }).id === id), 'the mqtt.js message at the app', 10_000);
      assert.deepEqual(received.mqtt!.find((r) => (r.data as { id?: string }).id === id)!.data, { from: 'mqtt.js', id });
    });
  });

  describe('bindings.http', () => {
    it('operations: every HTTP method Dapr sends, and create', async () => {
      assert.deepEqual((await operationsOf(client, 'http')).sort(), ['create', 'delete', 'get', 'head', 'options', 'patch', 'post', 'put', 'trace']);
    });

    it('create sends POST to url + path with the data and the capitalized metadata as headers; the target saw it', async () => {
      target.seen.length = 0;
      const r = await client.binding.send('http', 'create', OUTPUT_DATA, { path: `/items/${run}`, 'X-Order': '42', lower: 'no header' });
      assert.deepEqual(r, { stored: `/base/items/${run}` });
      const seen = target.seen.at(-1)!;
      assert.equal(seen.method, 'POST');
      assert.equal(seen.url, `/base/items/${run}`);
      assert.equal(seen.body, OUTPUT_BYTES);
      assert.equal(seen.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(seen.headers.accept, 'application/json; charset=utf-8');
      assert.equal(seen.headers['x-order'], '42');
      assert.equal(seen.headers.lower, undefined);
    });

    it('get answers what create stored; its status and headers come back as metadata.* headers', async () => {
      assert.deepEqual(await client.binding.send('http', 'get', null, { path: `/items/${run}` }), OUTPUT_DATA);
      assert.equal(target.seen.at(-1)!.method, 'GET');
      assert.equal(target.seen.at(-1)!.body, '', 'GET carries no body');
      // The SDK returns only the body: the response metadata is read over HTTP.
      const raw = await sc.json('POST', '/v1.0/bindings/http', { operation: 'put', data: { v: 2 }, metadata: { path: `/items/${run}` } });
      assert.equal(raw.status, 200);
      assert.equal(raw.headers.get('metadata.statuscode'), '200');
      assert.equal(raw.headers.get('metadata.status'), '200 OK');
      assert.equal(raw.headers.get('metadata.x-target'), 'yes');
    });

    it('delete sends DELETE; a later get answers empty data', async () => {
      assert.equal(await client.binding.send('http', 'delete', null, { path: `/items/${run}` }), '');
      assert.equal(target.seen.at(-1)!.method, 'DELETE');
      assert.equal(await client.binding.send('http', 'get', null, { path: `/items/${run}` }), '');
    });

    it('a 404 from the target rejects: received status code 404', async () => {
      const err = await client.binding.send('http', 'delete', null, { path: `/items/${run}` }).then(
        () => assert.fail('sent'),
        (e: unknown) => sendError(e),
      );
      assert.equal(err.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
      assert.match(err.message, /^error invoking output binding http: .*received status code 404/);
    });
  });

  describe('bindings.localstorage', () => {
    const fileName = `conf-${run}.json`;

    it('operations: create, get, list, delete are listed', async () => {
      assert.deepEqual(await operationsOf(client, 'files'), ['create', 'get', 'list', 'delete']);
    });

    it('create writes the file under rootPath (on disk) and answers its name', async () => {
      assert.deepEqual(await client.binding.send('files', 'create', OUTPUT_DATA, { fileName }), { fileName });
      assert.equal(readFileSync(join(rootPath, fileName), 'utf8'), OUTPUT_BYTES);
      // A JSON string is written unquoted, as Dapr writes it.
      await client.binding.send('files', 'create', 'plain text!', { fileName: 'sub/plain.txt' });
      assert.equal(readFileSync(join(rootPath, 'sub/plain.txt'), 'utf8'), 'plain text!');
    });

    it('get answers what create wrote', async () => {
      assert.deepEqual(await client.binding.send('files', 'get', null, { fileName }), OUTPUT_DATA);
      assert.equal(await client.binding.send('files', 'get', null, { fileName: 'sub/plain.txt' }), 'plain text!');
    });

    it('list answers the files under rootPath as paths that start with it', async () => {
      const files = (await client.binding.send('files', 'list', null)) as string[];
      assert.deepEqual([...files].sort(), [join(rootPath, fileName), join(rootPath, 'sub/plain.txt')].sort());
    });

    it('../x stays inside rootPath: the file is written under the root, nothing next to it', async () => {
      assert.deepEqual(await client.binding.send('files', 'create', { up: true }, { fileName: '../escape.json' }), { fileName: 'escape.json' });
      assert.ok(existsSync(join(rootPath, 'escape.json')), 'written inside the root');
      assert.ok(!existsSync(join(base, 'escape.json')), 'nothing written outside the root');
    });

    it('delete removes the file from disk; a later get rejects: file not found', async () => {
      assert.equal(await client.binding.send('files', 'delete', null, { fileName }), '');
      assert.ok(!existsSync(join(rootPath, fileName)));
      const err = await client.binding.send('files', 'get', null, { fileName }).then(
        () => assert.fail('sent'),
        (e: unknown) => sendError(e),
      );
      assert.equal(err.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
      assert.match(err.message, /^error invoking output binding files: .*file not found/);
    });
  });

  describe('bindings.cron', () => {
    it('read: @every 1s ticks reach DaprServer.binding.receive about once a second, each once, with no data', async () => {
      await waitUntil(() => received.cron!.length >= 3, 'three ticks', 10_000);
      const elapsed = Date.now() - started;
      const ticks = received.cron!.map((r) => r.at);
      const gaps = ticks.slice(1).map((at, i) => at - ticks[i]!);
      assert.ok(ticks.length <= Math.floor(elapsed / 1000) + 1, `no more than one tick a second (${ticks.length} in ${elapsed} ms)`);
      assert.ok(ticks.length >= Math.floor(elapsed / 1000) - 3, `no ticks lost (${ticks.length} in ${elapsed} ms)`);
      assert.ok(
        gaps.every((g) => g > 300),
        `never twice for one tick (gaps ${gaps.join(', ')} ms)`,
      );
      for (const r of received.cron!) assert.deepEqual(r.data, {}, "no data, as Dapr's cron (the SDK parses the empty JSON body as {})");
    });
  });

  it('at shutdown every RabbitMQ message the app took was acknowledged: none goes back to the queue', async () => {
    const taken = received.rabbit!.length;
    assert.equal(await sc.stop(), 0, 'the sidecar exits cleanly');
    const ch = await amqpConn.createChannel();
    try {
      const q = await ch.checkQueue(names.queue);
      assert.equal(q.consumerCount, 0, "the sidecar's consumer is gone");
      assert.equal(q.messageCount, 0, `none of the ${taken} deliveries was requeued`);
    } finally {
      await ch.close();
    }
  });
});
