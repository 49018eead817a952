/**
 * pubsub.in-memory: a broker inside this instance's own memory (Dapr's `pubsub.in-memory`).
 *
 * Each consumer group of a topic has its own queue; a message published to a topic is appended to the
 * queue of every group subscribed to it at that moment (with no subscriber it is discarded, as Dapr's
 * in-memory broker does). Fetched messages stay in flight until acked; a nacked or closed one goes back.
 * Declares max-instances 1: the queues live in this one instance, so every call must reach it. Nothing
 * survives a restart: use a durable broker when that matters.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { pubsubError, schema, type Pairs } from '../lib/guest.js';

interface Message {
  seq: number;
  data: Uint8Array;
  contentType?: string;
  metadata: Pairs;
  redeliveries: number;
}
interface Group {
  ready: Message[];
  inflight: Map<string, Message>;
  /** Nacked messages waiting for their delay, ordered by `at`. */
  delayed: Array<{ at: number; msg: Message }>;
}

const topics = new Map<string, Map<string, Group>>();
let seq = 0;

function group(topic: string, name: string, create: boolean): Group | undefined {
  let groups = topics.get(topic);
  if (!groups) {
    if (!create) return undefined;
    topics.set(topic, (groups = new Map()));
  }
  let g = groups.get(name);
  if (!g && create) groups.set(name, (g = { ready: [], inflight: new Map(), delayed: [] }));
  return g;
}

function checkTopic(topic: string): void {
  if (topic === '') throw pubsubError('invalid-argument', 'topic is empty');
}

function publishOne(r: P.PublishRequest): void {
  checkTopic(r.topic);
  const groups = topics.get(r.topic);
  if (!groups) return;
  const id = ++seq;
  for (const g of groups.values()) {
    g.ready.push({ seq: id, data: r.data, contentType: r.contentType ?? undefined, metadata: r.metadata, redeliveries: 0 });
  }
}

export const lifecycle = {
  describe() {
    return { types: ['pubsub.in-memory'], version: '1.0.0', features: ['BULK_PUBLISH'], metadataSchema: schema({}), maxInstances: 1 };
  },
  init(_metadata: Pairs) {},
  ping() {},
};

export const pubsub = {
  publish(r: P.PublishRequest): void {
    publishOne(r);
  },

  bulkPublish(rs: P.PublishRequest[]): P.BulkFailure[] {
    const failed: P.BulkFailure[] = [];
    rs.forEach((r, index) => {
      try {
        publishOne(r);
      } catch (err) {
        failed.push({ index, error: (err as { val?: string }).val ?? String(err) });
      }
    });
    return failed;
  },

  subscribe(s: P.Subscription): void {
    checkTopic(s.topic);
    group(s.topic, s.group, true);
  },

  fetch(subs: P.Subscription[], max: number, _waitMs: number): P.Delivery[] {
    const out: P.Delivery[] = [];
    const now = Number(nowMs());
    for (const s of subs) {
      const g = group(s.topic, s.group, false);
      if (!g) continue;
      // Due redeliveries go first, in the order they were nacked.
      while (g.delayed.length > 0 && g.delayed[0]!.at <= now) g.ready.unshift(g.delayed.shift()!.msg);
      while (out.length < max && g.ready.length > 0) {
        const m = g.ready.shift()!;
        const receipt = String(m.seq);
        g.inflight.set(receipt, m);
        out.push({ topic: s.topic, group: s.group, receipt, data: m.data, contentType: m.contentType, metadata: m.metadata, redeliveries: m.redeliveries });
      }
      if (out.length >= max) break;
    }
    return out;
  },

  ack(refs: P.SettleRef[]): void {
    for (const r of refs) group(r.topic, r.group, false)?.inflight.delete(r.receipt);
  },

  nack(refs: P.SettleRef[], delayMs: number): void {
    const at = Number(nowMs()) + delayMs;
    for (const r of refs) {
      const g = group(r.topic, r.group, false);
      const m = g?.inflight.get(r.receipt);
      if (!g || !m) continue;
      g.inflight.delete(r.receipt);
      m.redeliveries++;
      if (delayMs <= 0) g.ready.unshift(m);
      else {
        let i = g.delayed.length;
        while (i > 0 && g.delayed[i - 1]!.at > at) i--;
        g.delayed.splice(i, 0, { at, msg: m });
      }
    }
  },

  close(s: P.Subscription): void {
    const g = group(s.topic, s.group, false);
    if (!g) return;
    // In-flight messages go back to the front of the queue, oldest first.
    const back = [...g.inflight.values()].sort((a, b) => a.seq - b.seq);
    g.inflight.clear();
    for (const m of back) m.redeliveries++;
    g.ready.unshift(...back);
  },
};
