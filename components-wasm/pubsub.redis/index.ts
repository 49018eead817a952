/**
 * pubsub.redis: Redis Streams, as Dapr's `pubsub.redis`. A topic is a stream; a consumer group is a Redis
 * consumer group (named by `consumerID`, by default the app id), so sidecars of one app compete for
 * messages and different apps each get all of them.
 *
 * Messages are entries with a `data` field (Dapr's layout), plus `contentType` and `metadata` (JSON) when
 * given. A fetched entry stays in the group's pending list until acked; pending entries idle for longer
 * than `processingTimeout` are claimed again (XAUTOCLAIM) every `redeliverInterval`, and a restarted
 * consumer first re-reads its own pending entries, so nothing acknowledged by `publish` is lost.
 *
 * Two connections: a shared one for publishing and settling, and an exclusive one for `XREADGROUP BLOCK`.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import { Connection, type Argument, type Value } from 'mortar:host/redis@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { REDIS_CONNECTION_PROPERTIES, redisConnectOptions } from '../lib/redis-connection.js';
import { pubsubError, pubsubFromHost, schema, toMap, utf8Decode, utf8Encode, type Pairs } from '../lib/guest.js';
import { durationMs } from '../lib/broker.js';

let shared: Connection | undefined;
let blocking: Connection | undefined;
/** The validated metadata, for opening the blocking connection on first use. */
let metadataMap: Record<string, string> = {};
let maxLen = 0;
let processingTimeoutMs = 60_000;
let redeliverIntervalMs = 60_000;
let lastReclaim = 0;
/** Subscriptions whose own pending entries (from before a restart) have been re-read. */
const recovered = new Set<string>();
/** Subscriptions whose group is known to exist. */
const prepared = new Set<string>();

/** Key of a (stream, group) pair in the per-instance sets. */
const subKey = (topic: string, group: string): string => `${topic}\u0000${group}`;
const txt = (s: string): Argument => ({ tag: 'text', val: s });
const bin = (b: Uint8Array): Argument => ({ tag: 'binary', val: b });
const str = (v: Value | undefined): string => (v?.tag === 'bulk' ? utf8Decode(v.val) : v?.tag === 'status' ? v.val : '');

function conn(): Connection {
  if (!shared) throw pubsubError('other', 'not initialised');
  return shared;
}

function blocker(): Connection {
  if (!blocking) {
    try {
      blocking = Connection.open(redisConnectOptions(metadataMap, true));
    } catch (err) {
      throw pubsubFromHost(err);
    }
  }
  return blocking;
}

function run<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw pubsubFromHost(err);
  }
}

function publishArgs(r: P.PublishRequest): Argument[] {
  if (r.topic === '') throw pubsubError('invalid-argument', 'topic is empty');
  const args: Argument[] = [txt('XADD'), txt(r.topic)];
  if (maxLen > 0) args.push(txt('MAXLEN'), txt('~'), txt(String(maxLen)));
  args.push(txt('*'), txt('data'), bin(r.data));
  if (r.contentType != null) args.push(txt('contentType'), txt(r.contentType));
  if (r.metadata.length > 0) args.push(txt('metadata'), txt(JSON.stringify(toMap(r.metadata))));
  return args;
}

/**
 * Reads stream entries from a flattened reply: `[stream, [[id, [field, value, ...]], ...]], ...` (XREADGROUP)
 * or `[cursor, [[id, fields]...], [deleted ids]]` (XAUTOCLAIM, with `streamOf` naming the stream).
 */
function parseEntries(v: Value[], i: number, stream: string, group: string, redeliveries: number, out: P.Delivery[]): number {
  const n = v[i++];
  if (n?.tag !== 'array') return i;
  for (let e = 0; e < n.val; e++) {
    const entry = v[i++];
    if (entry?.tag !== 'array') continue; // nil: an entry deleted while pending
    const id = str(v[i++]);
    const fields = v[i++];
    let data: Uint8Array = new Uint8Array(0);
    let contentType: string | undefined;
    let metadata: Pairs = [];
    if (fields?.tag === 'array') {
      for (let f = 0; f < fields.val; f += 2) {
        const name = str(v[i++]);
        const value = v[i++];
        if (name === 'data') data = value?.tag === 'bulk' ? value.val : utf8Encode(str(value));
        else if (name === 'contentType') contentType = str(value);
        else if (name === 'metadata') {
          try {
            metadata = Object.entries(JSON.parse(str(value)) as Record<string, string>).map(([k, x]) => [k, String(x)]);
          } catch {
            /* not ours */
          }
        }
      }
    } else if (fields?.tag !== 'nil') i--; // unexpected shape: do not skip a value we did not read
    out.push({ topic: stream, group, receipt: id, data, contentType, metadata, redeliveries });
  }
  return i;
}

/** XREADGROUP for the subscriptions of one group; `id` is `>` (new entries) or `0` (own pending ones). */
function readGroup(c: Connection, group: string, topics: string[], id: string, max: number, blockMs: number, redeliveries: number): P.Delivery[] {
  const args: Argument[] = [txt('XREADGROUP'), txt('GROUP'), txt(group), txt(group), txt('COUNT'), txt(String(max))];
  if (blockMs > 0) args.push(txt('BLOCK'), txt(String(blockMs)));
  args.push(txt('STREAMS'), ...topics.map(txt), ...topics.map(() => txt(id)));
  let v: Value[];
  try {
    v = c.command(args);
  } catch (err) {
    const e = pubsubFromHost(err);
    if (e.val.includes('NOGROUP')) {
      // The stream or group was deleted under us: prepare again next time.
      for (const t of topics) prepared.delete(subKey(t, group));
      return [];
    }
    throw e;
  }
  const out: P.Delivery[] = [];
  if (v[0]?.tag !== 'array') return out; // nil: nothing arrived within the block time
  // Reply: array(streams), each array(2): stream name, entries.
  let i = 1;
  for (let s = 0; s < v[0].val; s++) {
    i++; // array(2)
    const stream = str(v[i++]);
    i = parseEntries(v, i, stream, group, redeliveries, out);
  }
  return out;
}

function prepare(topic: string, group: string): void {
  const key = subKey(topic, group);
  if (prepared.has(key)) return;
  try {
    // Dapr creates the group at id 0: a new group reads the stream from its start.
    conn().command([txt('XGROUP'), txt('CREATE'), txt(topic), txt(group), txt('0'), txt('MKSTREAM')]);
  } catch (err) {
    const e = pubsubFromHost(err);
    if (!e.val.includes('BUSYGROUP')) throw e;
  }
  prepared.add(key);
}

export const lifecycle = {
  describe() {
    return {
      types: ['pubsub.redis'],
      version: '1.0.0',
      features: ['BULK_PUBLISH'],
      metadataSchema: schema(
        {
          ...REDIS_CONNECTION_PROPERTIES,
          consumerID: { type: 'string', minLength: 1, description: 'The consumer group; by default the app id.' },
          processingTimeout: {
            type: 'string',
            description: 'How long a delivery may stay unacked before another consumer claims it (Go duration; 0 disables).',
          },
          redeliverInterval: { type: 'string', description: 'How often pending deliveries are checked for reclaiming (Go duration; 0 disables).' },
          maxLenApprox: { type: 'integer', minimum: 0, description: 'Trim streams to about this many entries (0: no trimming).' },
          queueDepth: { type: 'integer', minimum: 1 },
          concurrency: { type: 'integer', minimum: 1 },
          redisType: { type: 'string', enum: ['node'], default: 'node' },
          maxRetries: { type: 'integer', minimum: 0 },
          maxRetryBackoff: { type: 'string' },
          dialTimeout: { type: 'string' },
          readTimeout: { type: 'string' },
          writeTimeout: { type: 'string' },
          poolSize: { type: 'integer', minimum: 1 },
          idleTimeout: { type: 'string' },
          failover: { type: 'boolean', default: false },
          sentinelMasterName: { type: 'string' },
        },
        ['redisHost'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    processingTimeoutMs = durationMs(m.processingTimeout, 60_000, 'processingTimeout');
    redeliverIntervalMs = durationMs(m.redeliverInterval, 60_000, 'redeliverInterval');
    maxLen = Number(m.maxLenApprox ?? '0');
    metadataMap = m;
    try {
      shared = Connection.open(redisConnectOptions(m));
      shared.command([txt('PING')]);
    } catch (err) {
      throw { tag: 'unavailable', val: `redisHost ${m.redisHost}: ${pubsubFromHost(err).val}` };
    }
  },
  ping() {
    try {
      conn().command([txt('PING')]);
    } catch (err) {
      throw pubsubFromHost(err).val;
    }
  },
};

export const pubsub = {
  publish(r: P.PublishRequest): void {
    const args = publishArgs(r);
    run(() => conn().command(args));
  },

  bulkPublish(rs: P.PublishRequest[]): P.BulkFailure[] {
    const failed: P.BulkFailure[] = [];
    const cmds: Argument[][] = [];
    const index: number[] = [];
    rs.forEach((r, i) => {
      try {
        cmds.push(publishArgs(r));
        index.push(i);
      } catch (err) {
        failed.push({ index: i, error: (err as { val: string }).val });
      }
    });
    const results = run(() => conn().pipeline(cmds));
    results.forEach((res, k) => {
      if (res.tag === 'err') failed.push({ index: index[k]!, error: res.val });
    });
    return failed;
  },

  subscribe(s: P.Subscription): void {
    if (s.topic === '') throw pubsubError('invalid-argument', 'topic is empty');
    prepare(s.topic, s.group);
  },

  fetch(subs: P.Subscription[], max: number, waitMs: number): P.Delivery[] {
    const byGroup = new Map<string, string[]>();
    for (const s of subs) {
      prepare(s.topic, s.group);
      const list = byGroup.get(s.group) ?? [];
      if (!list.includes(s.topic)) list.push(s.topic);
      byGroup.set(s.group, list);
    }
    const out: P.Delivery[] = [];
    // 1. Our own pending entries from before a restart come back first.
    for (const [group, topics] of byGroup) {
      const fresh = topics.filter((t) => !recovered.has(subKey(t, group)));
      if (fresh.length === 0) continue;
      const got = run(() => readGroup(conn(), group, fresh, '0', max, 0, 1));
      out.push(...got);
      // Drained (fewer than asked): from now on read only new entries.
      if (got.length < max) for (const t of fresh) recovered.add(subKey(t, group));
      if (out.length >= max) return out.slice(0, max);
    }
    // 2. Entries left pending too long by any consumer (a crashed sidecar) are claimed.
    const now = Number(nowMs());
    if (processingTimeoutMs > 0 && redeliverIntervalMs > 0 && now - lastReclaim >= Math.min(redeliverIntervalMs, processingTimeoutMs)) {
      lastReclaim = now;
      for (const [group, topics] of byGroup) {
        for (const t of topics) {
          const v = run(() =>
            conn().command([
              txt('XAUTOCLAIM'),
              txt(t),
              txt(group),
              txt(group),
              txt(String(Math.floor(processingTimeoutMs))),
              txt('0-0'),
              txt('COUNT'),
              txt(String(max - out.length)),
            ]),
          );
          // Reply: array(3) cursor, array(n) entries, array(m) deleted ids.
          if (v[0]?.tag === 'array') parseEntries(v, 2, t, group, 1, out);
          if (out.length >= max) return out.slice(0, max);
        }
      }
    }
    if (out.length > 0) return out;
    // 3. New entries; block only when one group is read (one command), and never longer than asked.
    const block = byGroup.size === 1 ? waitMs : 0;
    for (const [group, topics] of byGroup) {
      out.push(...run(() => readGroup(block > 0 ? blocker() : conn(), group, topics, '>', max - out.length, block, 0)));
      if (out.length >= max) break;
    }
    return out;
  },

  ack(refs: P.SettleRef[]): void {
    const by = new Map<string, { topic: string; group: string; ids: string[] }>();
    for (const r of refs) {
      const k = subKey(r.topic, r.group);
      let e = by.get(k);
      if (!e) by.set(k, (e = { topic: r.topic, group: r.group, ids: [] }));
      e.ids.push(r.receipt);
    }
    const cmds = [...by.values()].map((e) => [txt('XACK'), txt(e.topic), txt(e.group), ...e.ids.map(txt)]);
    if (cmds.length === 0) return;
    const results = run(() => conn().pipeline(cmds));
    const failed = results.find((r) => r.tag === 'err');
    if (failed && failed.tag === 'err') throw pubsubError('unavailable', failed.val);
  },

  nack(_refs: P.SettleRef[], _delayMs: number): void {
    // Streams have no negative ack: the entry stays pending and is claimed again after processingTimeout.
  },

  close(_s: P.Subscription): void {
    // Pending entries stay with the group and are claimed again after processingTimeout.
  },
};
