/**
 * pubsub.rabbitmq: RabbitMQ over AMQP 0-9-1, with Dapr's `pubsub.rabbitmq` topology.
 *
 * A topic is an exchange (`exchangeKind`, fanout by default). A subscription is a queue named
 * `<group>-<topic>` (the group is `consumerID`, by default the app id) bound to the topic's exchange, so
 * sidecars of one app compete for the queue's messages and different apps each get all of them. With
 * `durable: true` and `deletedWhenUnused: false` the queue and its persistent messages (`deliveryMode: 2`)
 * survive a broker restart.
 *
 * Publishing waits for the broker's confirm. A delivery stays unacknowledged until the host acks it; the
 * broker hands out again whatever was unacknowledged when the connection broke. A nack is held here until
 * its delay has passed, then requeued.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import { Connection, type FieldValue, type Outgoing, type QueueOptions } from 'mortar:host/amqp@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { pubsubError, pubsubFromHost, schema, toMap, type Pairs, i64 } from '../lib/guest.js';
import { DelayedSettlements, durationMs, flag, requireTopic } from '../lib/broker.js';

let settings: Record<string, string> = {};
let conn: Connection | undefined;
/** Bumped on every new connection: receipts carry it, so a stale delivery tag never settles a new delivery. */
let generation = 0;
const exchanges = new Set<string>();
/** Subscriptions by `topic\0group`: the queue and, on the current connection, the consumer tag. */
const subs = new Map<string, { sub: P.Subscription; queue: string; tag?: string }>();
const byTag = new Map<string, { topic: string; group: string }>();
const delayed = new DelayedSettlements<P.SettleRef>();

const key = (topic: string, group: string): string => `${topic}\u0000${group}`;
const text = (v: string): FieldValue => ({ tag: 'text', val: v });
const int = (n: number): FieldValue => ({ tag: 'int', val: i64(n) });

function connection(): Connection {
  if (!conn) {
    try {
      conn = Connection.open(settings.connectionString!);
    } catch (err) {
      throw pubsubFromHost(err);
    }
    generation++;
    exchanges.clear();
    byTag.clear();
    delayed.clear();
    for (const s of subs.values()) s.tag = undefined;
  }
  return conn;
}

/** Runs `fn` on the connection; a broken connection is dropped so the next call opens a new one. */
function run<T>(fn: (c: Connection) => T): T {
  const c = connection();
  try {
    return fn(c);
  } catch (err) {
    const e = pubsubFromHost(err);
    if (e.tag === 'unavailable') {
      conn = undefined;
      release(c);
    }
    throw e;
  }
}

/** Drops a connection handle where the engine supports explicit disposal (the host closes it). */
function release(c: Disposable): void {
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  try {
    if (dispose) (c as unknown as Record<symbol, () => void>)[dispose]?.();
  } catch {
    /* already gone */
  }
}

function exchange(topic: string): void {
  if (exchanges.has(topic)) return;
  run((c) =>
    c.declareExchange(topic, {
      kind: settings.exchangeKind ?? 'fanout',
      durable: flag(settings, 'durable', false),
      autoDelete: flag(settings, 'deletedWhenUnused', true),
    }),
  );
  exchanges.add(topic);
}

function queueOptions(): QueueOptions {
  const args: Array<[string, FieldValue]> = [];
  if (settings.maxLen) args.push(['x-max-length', int(Number(settings.maxLen))]);
  if (settings.maxLenBytes) args.push(['x-max-length-bytes', int(Number(settings.maxLenBytes))]);
  const ttl = settings.ttlInSeconds || settings.defaultQueueTTL;
  if (ttl) args.push(['x-message-ttl', int(Number(ttl) * 1000)]);
  if (flag(settings, 'singleActiveConsumer', false)) args.push(['x-single-active-consumer', { tag: 'boolean', val: true }]);
  return { durable: flag(settings, 'durable', false), exclusive: false, autoDelete: flag(settings, 'deletedWhenUnused', true), arguments: args };
}

/** Declares the subscription's exchange, queue and bindings, and starts its consumer on this connection. */
function start(s: { sub: P.Subscription; queue: string; tag?: string }): void {
  if (s.tag !== undefined) return;
  // Declared every time: an auto-deleted exchange disappears with its last queue.
  exchanges.delete(s.sub.topic);
  exchange(s.sub.topic);
  run((c) => c.declareQueue(s.queue, queueOptions()));
  const md = toMap(s.sub.metadata);
  for (const rk of (md.routingKey ?? settings.routingKey ?? '').split(',')) run((c) => c.bindQueue(s.queue, s.sub.topic, rk.trim()));
  const prefetch = Number(settings.prefetchCount ?? '0');
  s.tag = run((c) => c.consume(s.queue, prefetch > 0 ? Math.min(prefetch, 65535) : 512));
  byTag.set(s.tag, { topic: s.sub.topic, group: s.sub.group });
}

function outgoing(r: P.PublishRequest): Outgoing {
  requireTopic(r.topic);
  const md = toMap(r.metadata);
  const ttl = md.ttlInSeconds;
  if (ttl !== undefined && !/^\d+$/.test(ttl)) throw pubsubError('invalid-argument', `ttlInSeconds: '${ttl}' is not a whole number of seconds`);
  const priority = md.priority;
  if (priority !== undefined && !/^\d+$/.test(priority)) throw pubsubError('invalid-argument', `priority: '${priority}' is not a number from 0 to 255`);
  const headers: Array<[string, FieldValue]> = [];
  for (const [k, v] of r.metadata) if (k !== 'ttlInSeconds' && k !== 'priority' && k !== 'routingKey') headers.push([k, text(v)]);
  return {
    exchange: r.topic,
    routingKey: md.routingKey ?? settings.routingKey ?? '',
    body: r.data,
    properties: {
      contentType: r.contentType ?? undefined,
      persistent: settings.deliveryMode === '2',
      expirationMs: ttl !== undefined ? i64(Number(ttl) * 1000) : undefined,
      priority: priority !== undefined ? Math.min(255, Number(priority)) : undefined,
      messageId: md.messageId,
      headers,
    },
  };
}

/**
 * Receipts are `<generation>:<delivery tag>`: the tags of the connection that is open now, or none. Returned
 * as the guest's `list<u64>` (numbers inside QuickJS; delivery tags stay far below 2^53).
 */
function tagsOf(refs: Iterable<P.SettleRef>): BigUint64Array {
  const out: number[] = [];
  for (const r of refs) {
    const [g, t] = r.receipt.split(':');
    if (Number(g) === generation && t) out.push(Number(t));
  }
  return out as unknown as BigUint64Array;
}

export const lifecycle = {
  describe() {
    return {
      types: ['pubsub.rabbitmq'],
      version: '1.0.0',
      features: ['BULK_PUBLISH', 'MESSAGE_TTL'],
      metadataSchema: schema(
        {
          connectionString: {
            type: 'string',
            pattern: '^amqps?://',
            'x-mortar-grant': 'amqp',
            description: 'amqp://user:password@host:port/vhost',
            'x-example': 'amqp://guest:guest@127.0.0.1:5672',
          },
          consumerID: { type: 'string', minLength: 1, description: 'The consumer group (queue name prefix); by default the app id.' },
          durable: { type: 'boolean', default: false, description: 'Declare exchanges and queues durable (they survive a broker restart).' },
          deletedWhenUnused: { type: 'boolean', default: true, description: 'Auto-delete queues and exchanges when their last consumer leaves.' },
          deliveryMode: { type: 'integer', enum: [0, 1, 2], default: 0, description: '2: persistent messages (written to disk on durable queues).' },
          requeueInFailure: {
            type: 'boolean',
            default: false,
            description: 'Accepted for Dapr compatibility; mortar always requeues a message the app did not take (the host owns retries and dead-lettering).',
          },
          prefetchCount: {
            type: 'integer',
            minimum: 0,
            maximum: 65535,
            default: 0,
            description: "Unacknowledged deliveries per consumer (0: mortar's default of 512).",
          },
          exchangeKind: { type: 'string', enum: ['fanout', 'topic', 'direct', 'headers'], default: 'fanout' },
          routingKey: { type: 'string', description: 'Routing key for publishing and (comma-separated) for binding subscription queues.' },
          maxLen: { type: 'integer', minimum: 0 },
          maxLenBytes: { type: 'integer', minimum: 0 },
          ttlInSeconds: { type: 'integer', minimum: 0, description: 'Default message TTL of subscription queues.' },
          defaultQueueTTL: { type: 'integer', minimum: 0 },
          singleActiveConsumer: { type: 'boolean', default: false },
          enableDeadLetter: { type: 'boolean', default: false, description: "Accepted for Dapr compatibility; use the subscription's deadLetterTopic." },
          publisherConfirm: { type: 'boolean', default: true, description: "mortar always waits for the broker's confirm." },
          reconnectWait: { type: 'string' },
          concurrencyMode: { type: 'string', enum: ['parallel', 'single'] },
          autoAck: { type: 'boolean', const: false, default: false, description: 'mortar acknowledges only after the app took a message.' },
          clientName: { type: 'string' },
          heartBeat: { type: 'string' },
        },
        ['connectionString'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    durationMs(settings.reconnectWait, 3000, 'reconnectWait');
    try {
      connection();
    } catch (err) {
      throw { tag: 'unavailable', val: `connectionString: ${(err as { val: string }).val}` };
    }
  },
  ping() {
    try {
      connection();
    } catch (err) {
      throw (err as { val: string }).val;
    }
  },
};

/**
 * Publishes, declaring the exchanges first. An exchange deleted meanwhile (auto-deleted with its last queue,
 * or by an operator) closes the publishing channel with NOT_FOUND: declare again and retry once.
 */
function publishAll(msgs: Outgoing[]): Array<{ tag: 'ok' } | { tag: 'err'; val: string }> {
  // The broker closes the channel on a missing exchange; the confirm callback may only say "channel closed".
  const missing = (text: string | undefined): boolean => /NOT[-_]FOUND|channel closed/i.test(text ?? '');
  for (const m of msgs) exchange(m.exchange);
  let results: Array<{ tag: 'ok' } | { tag: 'err'; val: string }>;
  try {
    results = run((c) => c.publish(msgs));
  } catch (err) {
    if (!missing((err as P.PubsubError).val)) throw err;
    results = msgs.map(() => ({ tag: 'err' as const, val: 'NOT_FOUND' }));
  }
  const again = results.flatMap((r, i) => (r.tag === 'err' && missing(r.val) ? [i] : []));
  if (again.length === 0) return results;
  for (const i of again) exchanges.delete(msgs[i]!.exchange);
  for (const i of again) exchange(msgs[i]!.exchange);
  run((c) => c.publish(again.map((i) => msgs[i]!))).forEach((r, k) => {
    results[again[k]!] = r;
  });
  return results;
}

export const pubsub = {
  publish(r: P.PublishRequest): void {
    const [res] = publishAll([outgoing(r)]);
    if (res?.tag === 'err') throw pubsubError('unavailable', `the broker refused the message: ${res.val}`);
  },

  bulkPublish(rs: P.PublishRequest[]): P.BulkFailure[] {
    const failed: P.BulkFailure[] = [];
    const msgs: Outgoing[] = [];
    const index: number[] = [];
    rs.forEach((r, i) => {
      try {
        msgs.push(outgoing(r));
        index.push(i);
      } catch (err) {
        failed.push({ index: i, error: String((err as { val?: string }).val ?? err) });
      }
    });
    if (msgs.length === 0) return failed;
    publishAll(msgs).forEach((res, k) => {
      if (res.tag === 'err') failed.push({ index: index[k]!, error: res.val });
    });
    return failed;
  },

  subscribe(s: P.Subscription): void {
    requireTopic(s.topic);
    const k = key(s.topic, s.group);
    const queue = toMap(s.metadata).queueName || `${s.group}-${s.topic}`;
    const entry = subs.get(k) ?? { sub: s, queue };
    subs.set(k, entry);
    start(entry);
  },

  fetch(want: P.Subscription[], max: number, waitMs: number): P.Delivery[] {
    for (const s of want) {
      const entry = subs.get(key(s.topic, s.group));
      if (entry) start(entry);
      else pubsub.subscribe(s);
    }
    // Nacks whose delay has passed go back to their queue.
    const due = tagsOf(delayed.due(Number(nowMs())));
    if (due.length > 0) run((c) => c.nack(due, true));
    const got = run((c) => c.receive(max, delayed.size > 0 ? Math.min(waitMs, 100) : waitMs));
    const out: P.Delivery[] = [];
    for (const m of got) {
      const sub = byTag.get(m.consumerTag);
      if (!sub) continue; // a consumer cancelled meanwhile: the broker takes it back with the connection
      const metadata: Pairs = [];
      for (const [k, v] of m.properties.headers) metadata.push([k, v.tag === 'text' ? v.val : String(v.val)]);
      out.push({
        topic: sub.topic,
        group: sub.group,
        receipt: `${generation}:${m.deliveryTag}`,
        data: m.body,
        contentType: m.properties.contentType,
        metadata,
        redeliveries: m.redelivered ? 1 : 0,
      });
    }
    return out;
  },

  ack(refs: P.SettleRef[]): void {
    const tags = tagsOf(refs);
    if (tags.length > 0) run((c) => c.ack(tags));
  },

  nack(refs: P.SettleRef[], delayMs: number): void {
    if (delayMs <= 0) {
      const tags = tagsOf(refs);
      if (tags.length > 0) run((c) => c.nack(tags, true));
      return;
    }
    const at = Number(nowMs()) + delayMs;
    for (const r of refs) delayed.add(r, at);
  },

  close(s: P.Subscription): void {
    const k = key(s.topic, s.group);
    const entry = subs.get(k);
    subs.delete(k);
    if (entry?.tag === undefined || !conn) return;
    byTag.delete(entry.tag);
    run((c) => c.cancel(entry.tag!));
  },
};
