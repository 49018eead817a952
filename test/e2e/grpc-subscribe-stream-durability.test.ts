/**
 * No loss through `SubscribeTopicEventsAlpha1` on a durable broker (Redis streams): thousands of messages in
 * flight, the stream broken mid-way (the client cancels), and the sidecar killed with `kill -9` mid-way and
 * restarted on the same data dir. Every message the broker accepted (the bulk publish reported no failed
 * entry) is in the end answered SUCCESS by the client at least once: an unanswered one went back to the
 * broker, and the sidecar acked at the broker only what the client had answered.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { RawGrpc, type TopicStream } from '../helpers/grpc.js';
import { waitUntil } from '../helpers/wait.js';

const MESSAGES = 3000;
/** Where the stream breaks (or the sidecar dies): after this many messages answered. */
const BREAK_AT = 1000;

/** Publishes MESSAGES events `{i}` to `topic` in bulks of 500; returns the `i`s the broker accepted. */
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
  return accepted;
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

/** The streams (topics) the tests made, deleted at the end. */
const topics: string[] = [];

function setup(name: string) {
  const run = `${name}-${randomUUID().slice(0, 8)}`;
  topics.push(`stream-${run}`);
  const dir = tempDir(`grpc-stream-${name}`);
  writeComponent(dir, 'broker.yaml', 'broker', 'pubsub.redis', { redisHost: REDIS_HOST, processingTimeout: '2s', redeliverInterval: '500ms' });
  return { appId: `stream-${run}`, topic: `stream-${run}`, dir, dataDir: tempDir(`grpc-stream-${name}-data`) };
}

describe('gRPC SubscribeTopicEventsAlpha1: no loss on Redis streams', () => {
  const cleanup: Array<() => unknown> = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
    const [host, port] = REDIS_HOST.split(':');
    const redis = new Redis({ host, port: Number(port) });
    await redis.del(...topics);
    redis.disconnect();
  });

  it(`a stream broken after ${BREAK_AT} of ${MESSAGES} messages (the client cancels with events in flight): after reconnecting, every accepted message is answered at least once`, async (t) => {
    const { appId, topic, dir, dataDir } = setup('broken');
    const sc = await Sidecar.start({ appId, resourcesPath: dir, dataDir });
    cleanup.push(() => sc.stop());
    const raw = new RawGrpc(sc.grpcPort);
    cleanup.push(() => raw.close());
    const answered = new Map<number, number>();

    const first = raw.subscribe({ pubsubName: 'broker', topic });
    await first.ready;
    let broken = false;
    consume(first, answered, () => {
      if (!broken && answered.size >= BREAK_AT) {
        broken = true;
        first.cancel();
      }
      return !broken;
    });
    const accepted = await publishAll(raw, topic);
    assert.equal(accepted.size, MESSAGES, 'the broker accepted every message');
    await waitUntil(() => broken, `${BREAK_AT} messages answered on the first stream`, 20_000);
    await first.ended;

    const second = raw.subscribe({ pubsubName: 'broker', topic });
    await second.ready;
    consume(second, answered);
    await waitUntil(() => answered.size === MESSAGES, `all ${MESSAGES} messages answered (now ${answered.size})`, 25_000);
    second.cancel();
    const missing = [...accepted].filter((i) => !answered.has(i));
    assert.deepEqual(missing, []);
    const again = [...answered.values()].filter((n) => n > 1).length;
    t.diagnostic(`${MESSAGES} messages answered; ${again} of them more than once`);
  });

  it(`kill -9 of the sidecar after ${BREAK_AT} of ${MESSAGES} messages: restarted on the same data dir and broker, a new stream gets every accepted message`, async (t) => {
    const { appId, topic, dir, dataDir } = setup('kill');
    const sc = await Sidecar.start({ appId, resourcesPath: dir, dataDir });
    cleanup.push(() => sc.stop());
    const raw = new RawGrpc(sc.grpcPort);
    cleanup.push(() => raw.close());
    const answered = new Map<number, number>();

    const first = raw.subscribe({ pubsubName: 'broker', topic });
    await first.ready;
    let killed: Promise<void> | undefined;
    consume(first, answered, () => {
      if (!killed && answered.size >= BREAK_AT) killed = sc.kill9();
      return killed === undefined;
    });
    const accepted = await publishAll(raw, topic);
    assert.equal(accepted.size, MESSAGES, 'the broker accepted every message');
    await waitUntil(() => killed !== undefined, `${BREAK_AT} messages answered before the kill`, 20_000);
    await killed;
    const err = await first.ended;
    assert.ok(err, 'the stream broke with the sidecar');

    const restarted = await Sidecar.start({ appId, resourcesPath: dir, dataDir });
    cleanup.push(() => restarted.stop());
    const raw2 = new RawGrpc(restarted.grpcPort);
    cleanup.push(() => raw2.close());
    const second = raw2.subscribe({ pubsubName: 'broker', topic });
    await second.ready;
    consume(second, answered);
    await waitUntil(() => answered.size === MESSAGES, `all ${MESSAGES} messages answered (now ${answered.size})`, 25_000);
    second.cancel();
    const missing = [...accepted].filter((i) => !answered.has(i));
    assert.deepEqual(missing, []);
    const again = [...answered.values()].filter((n) => n > 1).length;
    t.diagnostic(`${MESSAGES} messages answered; ${again} of them more than once`);
  });
});
