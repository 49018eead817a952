/**
 * No loss through `SubscribeTopicEventsAlpha1` on durable brokers: thousands of messages in flight, the stream
 * broken mid-way (the client cancels; Redis streams and RabbitMQ), and the sidecar killed with `kill -9` mid-way
 * and restarted on the same data dir (Redis streams). Every message the broker accepted (the bulk publish reported no failed
 * entry) is in the end answered SUCCESS by the client at least once: an unanswered one went back to the
 * broker, and the sidecar acked at the broker only what the client had answered.
 */
import { type TestContext, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { AMQP_URL, REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { RawGrpc, type TopicStream } from '../helpers/grpc.js';
import { waitUntil } from '../helpers/wait.js';

const MESSAGES = 3000;
/** Where the stream breaks (or the sidecar dies): after this many messages answered. */
const BREAK_AT = 1000;

/** Publishes MESSAGES events `{i}` to `topic` in bulks of 500; asserts the broker accepted every one and returns their `i`s. */
async function publishAll(raw: RawGrpc, topic: string): Promise<Set<number>> {
  const accepted = new Set<number>();
  for (let start = 0; start < MESSAGES; start += 500) {
    const entries = Array.from({ length: Math.min(500, MESSAGES - start) }, (_, k) => ({
      entryId: String(start + k),
      event: Buffer.from(JSON.stringify({ i: start + k })),
      contentType: 'application/json',
    }));
    const res = await raw.call<{ failedEntries: Array<{ entryId: string }> }>('BulkPublishEvent', { pubsubName: 'broker', topic, entries });
    const failed = new Set(res.failedEntries.map((f) => f.entryId));
    for (const e of entries) if (!failed.has(e.entryId)) accepted.add(Number(e.entryId));
  }
  assert.equal(accepted.size, MESSAGES, 'the broker accepted every message');
  return accepted;
}

/** A stream subscribed to `topic` on the broker, once the sidecar confirmed it. */
async function subscribed(raw: RawGrpc, topic: string): Promise<TopicStream> {
  const s = raw.subscribe({ pubsubName: 'broker', topic });
  await s.ready;
  return s;
}

/**
 * Answers SUCCESS on `s` until all MESSAGES are answered, then cancels it and asserts every accepted message was
 * answered; reports how many were answered more than once.
 */
async function answerTheRest(t: TestContext, s: TopicStream, answered: Map<number, number>, accepted: Set<number>): Promise<void> {
  consume(s, answered);
  await waitUntil(() => answered.size === MESSAGES, `all ${MESSAGES} messages answered (now ${answered.size})`, 25_000);
  s.cancel();
  const missing = [...accepted].filter((i) => !answered.has(i));
  assert.deepEqual(missing, []);
  const again = [...answered.values()].filter((n) => n > 1).length;
  t.diagnostic(`${MESSAGES} messages answered; ${again} of them more than once`);
}

/** Answers SUCCESS to every event of `s` (while `answering()`), recording each `i` answered in `answered`. */
function consume(s: TopicStream, answered: Map<number, number>, answering: () => boolean = () => true): void {
  s.onEvent((ev) => {
    if (!answering()) return;
    const { i } = JSON.parse(ev.data.toString('utf8')) as { i: number };
    answered.set(i, (answered.get(i) ?? 0) + 1);
    s.answer(ev.id, 'SUCCESS');
  });
}

/** The durable brokers: Redis streams (an unanswered entry is claimed again after `processingTimeout`), RabbitMQ (nacked back to a durable queue that outlives its consumer). */
const BROKERS = {
  'pubsub.redis': { redisHost: REDIS_HOST, processingTimeout: '2s', redeliverInterval: '500ms' },
  'pubsub.rabbitmq': { connectionString: AMQP_URL, durable: 'true', deletedWhenUnused: 'false', deliveryMode: '2' },
} as const;
type BrokerType = keyof typeof BROKERS;

/** What the tests left on the shared brokers, removed at the end: Redis streams, RabbitMQ queues and exchanges. */
const leftovers: Array<{ type: BrokerType; topic: string; appId: string }> = [];

function setup(name: string, type: BrokerType = 'pubsub.redis') {
  const run = `${name}-${randomUUID().slice(0, 8)}`;
  const topic = `stream-${run}`;
  const appId = `stream-${run}`;
  leftovers.push({ type, topic, appId });
  const dir = tempDir(`grpc-stream-${name}`);
  writeComponent(dir, 'broker.yaml', 'broker', type, BROKERS[type]);
  return { appId, topic, dir, dataDir: tempDir(`grpc-stream-${name}-data`) };
}

async function removeLeftovers(): Promise<void> {
  const [host, port] = REDIS_HOST.split(':');
  const redis = new Redis({ host, port: Number(port) });
  const streams = leftovers.filter((l) => l.type === 'pubsub.redis').map((l) => l.topic);
  if (streams.length > 0) await redis.del(...streams);
  redis.disconnect();
  const queues = leftovers.filter((l) => l.type === 'pubsub.rabbitmq');
  if (queues.length === 0) return;
  const amqp = await import('amqplib');
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    for (const q of queues) {
      await ch.deleteQueue(`${q.appId}-${q.topic}`);
      await ch.deleteExchange(q.topic);
    }
  } finally {
    await conn.close();
  }
}

describe('gRPC SubscribeTopicEventsAlpha1: no loss on durable brokers', () => {
  const cleanup: Array<() => unknown> = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
    await removeLeftovers();
  });

  /** Starts a sidecar on the test's broker and data dir, and a raw gRPC client to it (both closed at the end). */
  async function start(run: ReturnType<typeof setup>, args?: string[]): Promise<{ sc: Sidecar; raw: RawGrpc }> {
    const sc = await Sidecar.start({ appId: run.appId, resourcesPath: run.dir, dataDir: run.dataDir, ...(args ? { args } : {}) });
    cleanup.push(() => sc.stop());
    const raw = new RawGrpc(sc.grpcPort);
    cleanup.push(() => raw.close());
    return { sc, raw };
  }

  for (const type of Object.keys(BROKERS) as BrokerType[])
    it(`${type}: a stream broken after ${BREAK_AT} of ${MESSAGES} messages (the client cancels with events in flight): after reconnecting, every accepted message is answered at least once`, async (t) => {
      const run = setup('broken', type);
      const { topic } = run;
      const { raw } = await start(run);
      const answered = new Map<number, number>();

      const first = await subscribed(raw, topic);
      let broken = false;
      consume(first, answered, () => {
        if (!broken && answered.size >= BREAK_AT) {
          broken = true;
          first.cancel();
        }
        return !broken;
      });
      const accepted = await publishAll(raw, topic);
      await waitUntil(() => broken, `${BREAK_AT} messages answered on the first stream`, 20_000);
      await first.ended;

      await answerTheRest(t, await subscribed(raw, topic), answered, accepted);
    });

  it(`pubsub.redis: kill -9 of the sidecar after ${BREAK_AT} of ${MESSAGES} messages: restarted on the same data dir and broker, a new stream gets every accepted message`, async (t) => {
    const run = setup('kill');
    const { topic } = run;
    const { sc, raw } = await start(run);
    const answered = new Map<number, number>();

    const first = await subscribed(raw, topic);
    let killed: Promise<void> | undefined;
    consume(first, answered, () => {
      if (!killed && answered.size >= BREAK_AT) killed = sc.kill9();
      return killed === undefined;
    });
    const accepted = await publishAll(raw, topic);
    await waitUntil(() => killed !== undefined, `${BREAK_AT} messages answered before the kill`, 20_000);
    await killed;
    const err = await first.ended;
    assert.ok(err, 'the stream broke with the sidecar');

    const restarted = await start(run);
    await answerTheRest(t, await subscribed(restarted.raw, topic), answered, accepted);
  });

  it('pubsub.redis: a graceful stop lets the client answer the events in flight: one answered during the stop is settled, one left unanswered comes back after the restart', async () => {
    const run = setup('stop');
    const { topic } = run;
    // The stop waits for answers up to the graceful shutdown time (at most 5 s): 2 s here keeps the test short.
    const { sc, raw } = await start(run, ['--dapr-graceful-shutdown-seconds', '2']);
    const first = await subscribed(raw, topic);
    const send = (r: RawGrpc, i: number) =>
      r.call('PublishEvent', { pubsubName: 'broker', topic, data: Buffer.from(JSON.stringify({ i })), dataContentType: 'application/json' });
    await send(raw, 1);
    await send(raw, 2);
    const got = [await first.next(), await first.next()];
    const byI = new Map(got.map((ev) => [JSON.parse(ev.data.toString('utf8')).i as number, ev]));
    assert.deepEqual([...byI.keys()].sort(), [1, 2]);

    const stopped = sc.stop();
    await sc.waitForLog((l) => l.includes('shutting down gracefully'));
    await new Promise((r) => setTimeout(r, 300));
    first.answer(byI.get(1)!.id, 'SUCCESS'); // answered while the sidecar stops; 2 never is
    const err = await first.ended;
    assert.equal(err?.details, 'stream closed');
    assert.equal(await stopped, 0);

    const { raw: raw2 } = await start(run);
    const second = await subscribed(raw2, topic);
    await send(raw2, 3);
    const after: number[] = [];
    for (;;) {
      const ev = await second.next(15_000);
      const { i } = JSON.parse(ev.data.toString('utf8')) as { i: number };
      second.answer(ev.id, 'SUCCESS');
      after.push(i);
      if (i === 3) break;
    }
    second.cancel();
    assert.deepEqual(after, [2, 3], 'only the unanswered event came back, before the new one');
  });
});
