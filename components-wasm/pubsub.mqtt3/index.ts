/**
 * pubsub.mqtt3: an MQTT 3.1.1 broker (Mosquitto, EMQX, HiveMQ, ...), as Dapr's `pubsub.mqtt3`.
 *
 * Subscriptions may use MQTT wildcards (`sensors/+/temp`, `logs/#`); a delivery names the subscription's
 * filter as its topic and the concrete topic in its `topic` metadata.
 *
 * Consumer groups: MQTT 3.1.1 has none, so by default (`sharedSubscription`) each topic is subscribed as the
 * shared subscription `$share/<group>/<topic>` (Mosquitto, EMQX and HiveMQ offer them to 3.1.1 clients):
 * sidecars of one app (one group: `consumerID`, by default the app id) compete for messages, and other
 * apps each get every message, as on every other broker. Each sidecar connects with a client id of its own,
 * `<group>-<sidecar id>`, stable across its restarts and with a persistent session unless `cleanSession`
 * is true, so after a restart the broker sends again what was not acknowledged (a sidecar that never comes
 * back leaves its share in its session: MQTT's own limit). With `sharedSubscription: false` this is Dapr's
 * `mqtt3`: a plain subscription under the client id `consumerID`, every client gets every message, and two
 * sidecars must not share a client id.
 *
 * A message is acknowledged to the broker only after the host acks it; the client gets messages as the
 * broker sends them (up to its in-flight window) and acknowledges them in arrival order. A nacked message
 * is kept here and handed out again after its delay. Publishing uses a client of its own with a generated id.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import { Client, type Qos } from 'mortar:host/mqtt@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { pubsubError, pubsubFromHost, schema, toMap, type Pairs } from '../lib/guest.js';
import { DelayedSettlements, flag, publishEach, requireTopic } from '../lib/broker.js';

const QOS: Qos[] = ['at-most-once', 'at-least-once', 'exactly-once'];

let settings: Record<string, string> = {};
let qos: Qos = 'at-least-once';
let publisher: Client | undefined;
let consumer: Client | undefined;
/** Subscribed filters (topic -> the subscription), on the consuming client. */
const filters = new Map<string, P.Subscription>();
/** Deliveries handed out and not yet settled, by receipt, so a nacked one can be handed out again. */
const unsettled = new Map<string, P.Delivery>();
const delayed = new DelayedSettlements<P.Delivery>();

function connectClient(clientId: string, cleanSession: boolean): Client {
  try {
    return Client.connect({ url: settings.url!, clientId, cleanSession, keepAliveSeconds: 30 });
  } catch (err) {
    throw pubsubFromHost(err);
  }
}

function pub(): Client {
  publisher ??= connectClient('', true); // the host names it: a publisher needs no session
  return publisher;
}

function sub(s: P.Subscription): Client {
  const clientId = shared() ? `${s.group}-${s.consumer}` : (settings.consumerID ?? s.group);
  consumer ??= connectClient(clientId, flag(settings, 'cleanSession', false));
  return consumer;
}

function shared(): boolean {
  return flag(settings, 'sharedSubscription', true);
}

const SHARE_PREFIX = /^\$share\/[^/]+\//;

/** The filter subscribed on the broker for a subscription: shared by its group unless turned off. */
function brokerFilter(s: P.Subscription): string {
  return shared() && !SHARE_PREFIX.test(s.topic) ? `$share/${s.group}/${s.topic}` : s.topic;
}

/** The filter that messages of a subscription match (a `$share/<group>/` prefix is not part of their topic). */
function messageFilter(s: P.Subscription): string {
  return s.topic.replace(SHARE_PREFIX, '');
}

function run<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw pubsubFromHost(err);
  }
}

/** Whether an MQTT topic filter (with `+` and `#`) matches a concrete topic. */
function matches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i > 0 || !topic.startsWith('$');
    if (i >= t.length) return false;
    if (f[i] === '+') {
      if (i === 0 && t[0]!.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function qosOf(raw: string | undefined): Qos {
  if (raw === undefined || raw === '') return qos;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 2) throw pubsubError('invalid-argument', `qos: '${raw}' must be 0, 1 or 2`);
  return QOS[n]!;
}

export const lifecycle = {
  describe() {
    return {
      // Every name Dapr registers it under (dapr/dapr cmd/daprd/components/pubsub_mqtt3.go).
      types: ['pubsub.mqtt3', 'pubsub.mqtt'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          url: {
            type: 'string',
            pattern: '^(tcp|mqtt|ssl|mqtts|tls|ws|wss)://',
            'x-mortar-grant': 'mqtt',
            description: 'tcp://[user][:password]@host[:port]',
            'x-example': 'tcp://127.0.0.1:1883',
          },
          consumerID: {
            type: 'string',
            minLength: 1,
            maxLength: 65535,
            description: 'The consumer group (shared subscriptions), or with sharedSubscription false the client id; by default the app id.',
          },
          sharedSubscription: {
            type: 'boolean',
            default: true,
            description: 'Subscribe as $share/<group>/<topic>, so sidecars of one app compete for messages.',
          },
          qos: { type: 'integer', enum: [0, 1, 2], default: 1 },
          retain: { type: 'boolean', default: false },
          cleanSession: { type: 'boolean', default: false },
          producerID: { type: 'string' },
          caCert: { type: 'string' },
          clientCert: { type: 'string' },
          clientKey: { type: 'string', 'x-sensitive': true },
          backOffMaxRetries: { type: 'integer' },
        },
        ['url'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    qos = QOS[Number(settings.qos ?? '1')] ?? 'at-least-once';
    try {
      pub();
    } catch (err) {
      throw { tag: 'unavailable', val: `url: ${(err as { val: string }).val}` };
    }
  },
  ping() {
    try {
      pub();
    } catch (err) {
      throw (err as { val: string }).val;
    }
  },
};

export const pubsub = {
  publish(r: P.PublishRequest): void {
    requireTopic(r.topic);
    if (/[+#]/.test(r.topic)) throw pubsubError('invalid-argument', `topic '${r.topic}': wildcards are for subscribing, not publishing`);
    const md = toMap(r.metadata);
    const q = qosOf(md.qos);
    const retain = md.retain !== undefined ? /^(1|t|true)$/i.test(md.retain) : flag(settings, 'retain', false);
    run(() => pub().publish(r.topic, r.data, q, retain));
  },

  bulkPublish(rs: P.PublishRequest[]): P.BulkFailure[] {
    return publishEach(rs, pubsub.publish);
  },

  subscribe(s: P.Subscription): void {
    requireTopic(s.topic);
    if (filters.has(s.topic)) return;
    if (shared() && /[$+#/]/.test(s.group))
      throw pubsubError('invalid-argument', `consumer group '${s.group}': a shared subscription's group may not contain $, +, # or /`);
    run(() => sub(s).subscribe(brokerFilter(s), qosOf(toMap(s.metadata).qos)));
    filters.set(s.topic, s);
  },

  fetch(subs: P.Subscription[], max: number, waitMs: number): P.Delivery[] {
    for (const s of subs) if (!filters.has(s.topic)) pubsub.subscribe(s);
    const out: P.Delivery[] = [];
    for (const d of delayed.due(Number(nowMs()))) {
      // Nacked while its subscription was in force; if that subscription is gone now, let the message go
      // (holding it would hold up every later message: MQTT acknowledges in order).
      if (filters.has(d.topic)) out.push(d);
      else pubsub.ack([{ topic: d.topic, group: d.group, receipt: d.receipt }]);
    }
    if (out.length > 0 || !consumer) return out;
    const got = run(() => consumer!.receive(max, delayed.size > 0 ? Math.min(waitMs, 100) : waitMs));
    for (const m of got) {
      let owner: P.Subscription | undefined;
      for (const s of filters.values())
        if (matches(messageFilter(s), m.topic)) {
          owner = s;
          break;
        }
      if (!owner) {
        // Not ours (a subscription closed meanwhile, or a session from before): acknowledge and skip it.
        run(() => consumer!.ack([Number(m.id)] as unknown as BigUint64Array));
        continue;
      }
      const d: P.Delivery = {
        topic: owner.topic,
        group: owner.group,
        receipt: String(m.id),
        data: m.payload,
        contentType: undefined,
        metadata: m.topic !== owner.topic ? [['topic', m.topic]] : [],
        redeliveries: m.duplicate ? 1 : 0,
      };
      unsettled.set(d.receipt, d);
      out.push(d);
    }
    return out;
  },

  ack(refs: P.SettleRef[]): void {
    const ids: number[] = [];
    for (const r of refs) if (unsettled.delete(r.receipt)) ids.push(Number(r.receipt));
    if (ids.length > 0 && consumer) run(() => consumer!.ack(ids as unknown as BigUint64Array));
  },

  nack(refs: P.SettleRef[], delayMs: number): void {
    const at = Number(nowMs()) + Math.max(0, delayMs);
    for (const r of refs) {
      const d = unsettled.get(r.receipt);
      if (d) delayed.add({ ...d, redeliveries: d.redeliveries + 1 }, at);
    }
  },

  close(s: P.Subscription): void {
    const known = filters.get(s.topic);
    if (!known || !consumer) return;
    filters.delete(s.topic);
    run(() => consumer!.unsubscribe(brokerFilter(known)));
  },
};
