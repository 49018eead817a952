/**
 * No loss: with a durable broker every message the publish API acknowledged reaches the subscriber at
 * least once, also when the sidecar is killed with `kill -9` mid-stream and restarted, and when the broker
 * itself restarts mid-stream. Competing consumers: two sidecars of one app id share the messages; another
 * app id gets them all.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { AMQP_URL, MQTT_URL, NATS_URL, REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { restartableBroker, type BrokerKind } from '../helpers/private-broker.js';

/**
 * Brokers with consumer groups (MQTT: shared subscriptions) and durable storage, on the shared services.
 * `messages` and `delayMs` (the slow subscriber before the kill) default to 3000 and 200.
 */
const durable: Array<{ type: string; metadata: Record<string, string>; messages?: number; delayMs?: number }> = [
  { type: 'pubsub.redis', metadata: { redisHost: REDIS_HOST, processingTimeout: '2s', redeliverInterval: '500ms' } },
  { type: 'pubsub.rabbitmq', metadata: { connectionString: AMQP_URL, durable: 'true', deletedWhenUnused: 'false', deliveryMode: '2' } },
  { type: 'pubsub.jetstream', metadata: { natsURL: NATS_URL, ackWait: '2s', memoryStorage: 'true' } },
  // MQTT: Mosquitto keeps 20 messages in flight per client (`max_inflight_messages`), so a 1 s subscriber
  // takes 20 a second, slower than publishing: fewer messages keep the test short.
  { type: 'pubsub.mqtt3', metadata: { url: MQTT_URL, qos: '1', cleanSession: 'false' }, messages: 400, delayMs: 1000 },
];

/** Brokers restarted by the test: servers of the test's own with their data on disk, and the machine's RabbitMQ. */
/** `delayMs` slows the subscriber so that the restart lands mid-stream. */
const restartable: Array<{ kind: BrokerKind; type: string; messages: number; delayMs: number; metadata: (address: string) => Record<string, string> }> = [
  {
    kind: 'redis',
    type: 'pubsub.redis',
    messages: 1500,
    delayMs: 1000,
    metadata: (a) => ({ redisHost: a, processingTimeout: '2s', redeliverInterval: '500ms' }),
  },
  {
    kind: 'rabbitmq',
    type: 'pubsub.rabbitmq',
    messages: 1500,
    delayMs: 2000,
    metadata: (a) => ({ connectionString: a, durable: 'true', deletedWhenUnused: 'false', deliveryMode: '2' }),
  },
  { kind: 'nats', type: 'pubsub.jetstream', messages: 1500, delayMs: 1000, metadata: (a) => ({ natsURL: a, ackWait: '2s' }) },
  // MQTT: 20 messages in flight per client (Mosquitto's default), 20 a second at 1 s each: fewer messages
  // keep the test short.
  { kind: 'mosquitto', type: 'pubsub.mqtt3', messages: 300, delayMs: 1000, metadata: (a) => ({ url: a, qos: '1', cleanSession: 'false' }) },
];

/** Publishes `ids` (50 at a time) and returns those the API acknowledged with 204. */
async function publishAll(sc: Sidecar, topic: string, ids: string[]): Promise<string[]> {
  const acked: string[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    const rs = await Promise.all(
      chunk.map((id) =>
        sc.fetch(`/v1.0/publish/broker/${topic}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) }),
      ),
    );
    rs.forEach((r, k) => {
      if (r.status === 204) acked.push(chunk[k]!);
    });
  }
  return acked;
}

const idsOf = (app: SubscriberApp) => new Set(app.deliveries.map((d) => (d.event?.data as { id?: string } | undefined)?.id).filter(Boolean) as string[]);

const cleanup: Array<() => Promise<unknown>> = [];

/**
 * Removes what a scenario left on a shared broker that outlives it: RabbitMQ's durable queue and exchange,
 * JetStream's stream (named after the topic).
 */
async function forget(type: string, metadata: Record<string, string>, topic: string, appId: string): Promise<void> {
  if (type === 'pubsub.rabbitmq') {
    const amqp = await import('amqplib');
    const conn = await amqp.connect(metadata.connectionString!);
    try {
      const ch = await conn.createChannel();
      await ch.deleteQueue(`${appId}-${topic}`);
      await ch.deleteExchange(topic);
    } finally {
      await conn.close();
    }
  } else if (type === 'pubsub.jetstream') {
    const { connect } = await import('nats');
    const nc = await connect({ servers: metadata.natsURL! });
    try {
      await (await nc.jetstreamManager()).streams.delete(topic.replace(/[.*>\s/\\]/g, '_')).catch(() => undefined);
    } finally {
      await nc.close();
    }
  }
}
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

/** A fresh topic on a component `broker` of `type`; apps subscribe to it, sidecars serve them. */
function scenario(name: string, type: string, metadata: Record<string, string>) {
  const run = randomUUID().slice(0, 8);
  const topic = `${name}-${run}`;
  const res = tempDir(`pubsub-${name}`);
  writeComponent(res, 'broker.yaml', 'broker', type, metadata);
  return {
    run,
    topic,
    async app(): Promise<SubscriberApp> {
      const a = await SubscriberApp.start([{ pubsubname: 'broker', topic, route: '/in' }]);
      cleanup.push(() => a.close());
      return a;
    },
    /**
     * Starts a sidecar for `appId` in front of `app` and waits until it has subscribed. A restart passes
     * the data directory of the sidecar it replaces (it keeps its identity, as a restarted pod keeps its name).
     */
    async sidecar(appId: string, app: SubscriberApp, dataDir?: string): Promise<Sidecar> {
      cleanup.push(() => forget(type, metadata, topic, appId));
      const sc = await Sidecar.start({ appId, resourcesPath: res, dataDir, args: ['--app-port', String(app.port)] });
      cleanup.push(() => sc.stop());
      await sc.waitForLog((l) => l.includes('subscribed to broker'), 20_000);
      return sc;
    },
  };
}

for (const broker of durable) {
  describe(`pub/sub durability on ${broker.type}`, () => {
    it('kill -9 mid-stream and restart: every acknowledged message is delivered', async () => {
      const { run, topic, app: startApp, sidecar } = scenario('durable', broker.type, broker.metadata);
      const app = await startApp();
      // A slow subscriber, so the kill lands while most messages are still queued; it answers nothing
      // until every message is published, so that holds however slow publishing is on this machine.
      app.delayMs = broker.delayMs ?? 200;
      const release = app.hold();
      const appId = `durable-${run}`;
      const first = await sidecar(appId, app);
      const ids = Array.from({ length: broker.messages ?? 3000 }, (_, i) => `${run}-${i}`);
      const acked = await publishAll(first, topic, ids);
      assert.equal(acked.length, ids.length, 'every publish was acknowledged');
      release();
      await app.until(() => idsOf(app).size >= Math.min(100, ids.length / 10), 30_000, 'deliveries before the kill');
      await first.kill9();
      app.delayMs = 0;
      const atKill = idsOf(app).size;
      assert.ok(atKill < ids.length, `the kill came mid-stream (${atKill} of ${ids.length} delivered)`);

      await sidecar(appId, app, first.dataDir);
      await app.until(() => idsOf(app).size === ids.length, 60_000, 'all messages after the restart');
      const seen = idsOf(app);
      assert.deepEqual(
        acked.filter((id) => !seen.has(id)),
        [],
        'no acknowledged message is missing',
      );
    });

    it("competing consumers share one app id's messages; another app id gets every message", async () => {
      const { run, topic, app: startApp, sidecar } = scenario('compete', broker.type, broker.metadata);
      const [a1, a2, other] = [await startApp(), await startApp(), await startApp()];
      await sidecar(`shop-${run}`, a1);
      await sidecar(`shop-${run}`, a2);
      const s3 = await sidecar(`audit-${run}`, other);
      const ids = Array.from({ length: 400 }, (_, i) => `${run}-${i}`);
      // Published through the auditing app's sidecar: any sidecar may publish.
      assert.equal((await publishAll(s3, topic, ids)).length, ids.length);
      await other.until(() => idsOf(other).size === ids.length, 30_000, 'the other app id to get all');
      await a1.until(() => new Set([...idsOf(a1), ...idsOf(a2)]).size === ids.length, 30_000, 'the shop app id to get all');
      const n1 = idsOf(a1).size;
      const n2 = idsOf(a2).size;
      assert.ok(n1 > 0 && n2 > 0, `both sidecars of the app took messages (${n1} + ${n2})`);
      assert.ok(n1 + n2 < ids.length * 1.1, `each message went to one of them (${n1} + ${n2} for ${ids.length})`);
    });
  });
}

for (const broker of restartable) {
  describe(`pub/sub across a broker restart: ${broker.type} (${broker.kind} restarted)`, () => {
    it('the broker restarts mid-stream: every acknowledged message is delivered, and publishing resumes', async () => {
      const server = await restartableBroker(broker.kind);
      cleanup.push(() => server.stop());
      const { run, topic, app: startApp, sidecar } = scenario('restart', broker.type, broker.metadata(server.address));
      const app = await startApp();
      app.delayMs = broker.delayMs;
      const sc = await sidecar(`restart-${run}`, app);
      const before = Array.from({ length: broker.messages }, (_, i) => `${run}-a${i}`);
      const acked = await publishAll(sc, topic, before);
      assert.equal(acked.length, before.length, 'every publish before the restart was acknowledged');
      await app.until(() => idsOf(app).size >= 20, 30_000, '20 deliveries before the restart');
      await server.restart(1000);
      const atRestart = idsOf(app).size;
      assert.ok(atRestart < before.length, `the restart came mid-stream (${atRestart} of ${before.length} delivered)`);
      app.delayMs = 0;

      // Publishing works again once the component has reconnected; count only what was acknowledged.
      const after = Array.from({ length: 50 }, (_, i) => `${run}-b${i}`);
      const deadline = Date.now() + 30_000;
      let pending = after;
      while (pending.length > 0 && Date.now() < deadline) {
        const ok = new Set(await publishAll(sc, topic, pending));
        acked.push(...pending.filter((id) => ok.has(id)));
        pending = pending.filter((id) => !ok.has(id));
        if (pending.length > 0) await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(pending, [], 'publishing resumed after the restart');

      await app
        .until(() => acked.every((id) => idsOf(app).has(id)), 90_000, 'every acknowledged message after the restart')
        .catch((err: unknown) => {
          if (process.env.MORTAR_TEST_DEBUG) console.log(sc.logs.slice(-40).join('\n'), '\nmissing:', acked.filter((id) => !idsOf(app).has(id)).join(' '));
          throw err;
        });
      const seen = idsOf(app);
      assert.deepEqual(
        acked.filter((id) => !seen.has(id)),
        [],
        'no acknowledged message is missing',
      );
    });
  });
}
