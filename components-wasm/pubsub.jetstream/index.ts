/**
 * pubsub.jetstream: NATS JetStream, as Dapr's `pubsub.jetstream`.
 *
 * A topic is a subject captured by a stream: `streamName` (created if missing, and given the topic's
 * subject) or, without it, whichever stream captures the subject (one named after the topic is created
 * when none does). A subscription is a durable pull consumer named `<durableName or group>-<topic>`, so
 * sidecars of one app compete for its messages and different apps each get all of them; a restarted
 * sidecar resumes where its consumer stopped. Unacknowledged messages come back after `ackWait`, and a
 * nack is redelivered by the server after its delay.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import { Connection, type DeliverPolicy } from 'mortar:host/nats@0.1.0';
import { pubsubError, pubsubFromHost, schema, toMap, i64, type Pairs } from '../lib/guest.js';
import { durationMs, flag, publishEach, requireTopic } from '../lib/broker.js';

let settings: Record<string, string> = {};
let conn: Connection | undefined;
let ackWaitMs = 30_000;
/** Topics whose subject is known to be captured by a stream, with that stream's name. */
const streams = new Map<string, string>();
/** Durable consumer name -> subscription, for the consumers started on this connection. */
const consumers = new Map<string, P.Subscription>();

function connection(): Connection {
  if (!conn) {
    try {
      conn = Connection.open(settings.natsURL!);
    } catch (err) {
      throw pubsubFromHost(err);
    }
  }
  return conn;
}

function run<T>(fn: (c: Connection) => T): T {
  try {
    return fn(connection());
  } catch (err) {
    throw pubsubFromHost(err);
  }
}

/** A name usable as a stream or consumer name (no `.`, `*`, `>`, whitespace or path separators). */
const safeName = (s: string): string => s.replace(/[.*>\s/\\]/g, '_');

/** The stream that captures `topic`, creating it (or adding the subject to `streamName`) when needed. */
function streamOf(topic: string): string {
  const known = streams.get(topic);
  if (known) return known;
  const storage = flag(settings, 'memoryStorage', false) ? 'memory' : 'file';
  const replicas = Number(settings.replicas ?? '1');
  let name = settings.streamName;
  if (name) {
    run((c) => c.ensureStream({ name: name!, subjects: [topic], storage, maxAgeMs: i64(0), replicas }));
  } else {
    name = run((c) => c.streamForSubject(topic)) ?? safeName(topic);
    run((c) => c.ensureStream({ name: name!, subjects: [topic], storage, maxAgeMs: i64(0), replicas }));
  }
  streams.set(topic, name);
  return name;
}

function durableOf(s: P.Subscription): string {
  return safeName(`${toMap(s.metadata).durableName || settings.durableName || s.group}-${s.topic}`);
}

function deliverPolicy(): DeliverPolicy {
  if (flag(settings, 'deliverAll', false)) return 'all';
  const p = settings.deliverPolicy ?? 'all';
  return p === 'last' ? 'last' : p === 'new' ? 'new' : p === 'lastPerSubject' || p === 'last-per-subject' ? 'last-per-subject' : 'all';
}

function start(s: P.Subscription): void {
  const durable = durableOf(s);
  if (consumers.has(durable)) return;
  const stream = streamOf(s.topic);
  run((c) =>
    c.consume(
      {
        stream,
        durable,
        filterSubject: s.topic,
        deliverPolicy: deliverPolicy(),
        ackWaitMs: i64(ackWaitMs),
        maxDeliver: i64(Number(settings.maxDeliver ?? '-1')),
        maxAckPending: i64(Number(settings.maxAckPending ?? '1000')),
      },
      256,
    ),
  );
  consumers.set(durable, s);
}

function publishOne(r: P.PublishRequest): void {
  requireTopic(r.topic);
  if (/[*>]/.test(r.topic)) throw pubsubError('invalid-argument', `topic '${r.topic}': wildcards are for subscribing, not publishing`);
  streamOf(r.topic);
  const headers: Pairs = [];
  if (r.contentType != null) headers.push(['Content-Type', r.contentType]);
  let messageId: string | undefined;
  for (const [k, v] of r.metadata) {
    if (k === 'messageId' || k === 'Nats-Msg-Id') messageId = v;
    else if (k !== 'ttlInSeconds') headers.push([k, v]);
  }
  run((c) => c.publish(r.topic, r.data, headers, messageId));
}

const ids = (refs: P.SettleRef[]): BigUint64Array => refs.map((r) => Number(r.receipt)) as unknown as BigUint64Array;

export const lifecycle = {
  describe() {
    return {
      types: ['pubsub.jetstream'],
      version: '1.0.0',
      features: ['BULK_PUBLISH'],
      metadataSchema: schema(
        {
          natsURL: {
            type: 'string',
            minLength: 1,
            'x-mortar-grant': 'nats',
            description: 'nats://host:port (comma-separated for a cluster)',
            'x-example': 'nats://127.0.0.1:4222',
          },
          streamName: {
            type: 'string',
            pattern: '^[^.*>\\s]+$',
            description: 'The stream to use (created if missing); by default the stream capturing each topic.',
          },
          durableName: { type: 'string', pattern: '^[^.*>\\s]+$', description: 'Durable consumer name prefix; by default the consumer group (app id).' },
          consumerID: { type: 'string', minLength: 1 },
          queueGroupName: { type: 'string' },
          name: { type: 'string' },
          deliverPolicy: { type: 'string', enum: ['all', 'last', 'new', 'lastPerSubject', 'last-per-subject'], default: 'all' },
          deliverAll: { type: 'boolean' },
          ackWait: { type: 'string', description: 'How long a delivery may stay unacknowledged before the server redelivers it (Go duration).' },
          maxDeliver: { type: 'integer', minimum: -1, default: -1 },
          maxAckPending: { type: 'integer', minimum: 1, default: 1000 },
          replicas: { type: 'integer', minimum: 1, maximum: 5, default: 1 },
          memoryStorage: { type: 'boolean', default: false },
          ackPolicy: { type: 'string', enum: ['explicit'], default: 'explicit' },
          concurrency: { type: 'string' },
          jwt: { type: 'string' },
          seedKey: { type: 'string', 'x-sensitive': true },
          token: { type: 'string', 'x-sensitive': true },
        },
        ['natsURL'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    ackWaitMs = durationMs(settings.ackWait, 30_000, 'ackWait');
    if (settings.jwt || settings.seedKey || settings.token)
      throw { tag: 'invalid-metadata', val: 'jwt, seedKey, token: NATS authentication is not supported yet; use a URL with user:password' };
    try {
      connection();
    } catch (err) {
      throw { tag: 'unavailable', val: `natsURL: ${(err as { val: string }).val}` };
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

export const pubsub = {
  publish(r: P.PublishRequest): void {
    publishOne(r);
  },

  bulkPublish(rs: P.PublishRequest[]): P.BulkFailure[] {
    return publishEach(rs, publishOne);
  },

  subscribe(s: P.Subscription): void {
    requireTopic(s.topic);
    start(s);
  },

  fetch(subs: P.Subscription[], max: number, waitMs: number): P.Delivery[] {
    for (const s of subs) start(s);
    const got = run((c) => c.receive(max, waitMs));
    const out: P.Delivery[] = [];
    for (const m of got) {
      const s = consumers.get(m.durable);
      if (!s) continue; // stopped meanwhile: the server redelivers it after ackWait
      let contentType: string | undefined;
      const metadata: Pairs = [];
      for (const [k, v] of m.headers) {
        if (k.toLowerCase() === 'content-type') contentType = v;
        else metadata.push([k, v]);
      }
      out.push({ topic: s.topic, group: s.group, receipt: String(m.id), data: m.data, contentType, metadata, redeliveries: Math.max(0, m.deliveryCount - 1) });
    }
    return out;
  },

  ack(refs: P.SettleRef[]): void {
    if (refs.length > 0) run((c) => c.ack(ids(refs)));
  },

  nack(refs: P.SettleRef[], delayMs: number): void {
    if (refs.length > 0) run((c) => c.nak(ids(refs), delayMs));
  },

  close(s: P.Subscription): void {
    const durable = durableOf(s);
    if (!consumers.delete(durable) || !conn) return;
    run((c) => c.stop(durable));
  },
};
