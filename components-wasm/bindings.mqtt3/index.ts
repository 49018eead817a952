// world: binding-component
/**
 * bindings.mqtt3: an MQTT 3.1.1 topic as an input and output binding, as Dapr's `bindings.mqtt3`
 * (components-contrib `bindings/mqtt3/mqtt.go`, `metadata.go`). Metadata `url`, `topic`, `consumerID`
 * (all required), `retain`, `cleanSession` (default false), `backOffMaxRetries`; QoS is always 1 (Dapr
 * ignores the deprecated `qos`).
 *
 * Output: `create` publishes the data to the request metadata `topic`, or to the component's `topic`, with
 * the component's `retain`; no response. It uses a client of its own with a clean session, whose id the
 * host generates (Dapr's is `<consumerID>-producer`, which two instances of one pool would fight over).
 *
 * Input: `open` connects the client `<consumerID>-consumer` (a persistent session unless `cleanSession`)
 * and subscribes to `topic` at QoS 1, waiting for the SUBACK. Each message is an event with its payload as
 * data and metadata `topic` (the concrete topic). It is acknowledged to the broker (PUBACK) only on `ack`;
 * the host hands out messages as the broker sends them (up to its in-flight window) and sends the PUBACKs
 * in arrival order. A nacked message is kept here and handed out again after its delay (until then it
 * holds back the PUBACKs of later messages); `close` disconnects without unsubscribing,
 * so with a persistent session the broker sends what was not acknowledged again on the next `open`.
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import type * as I from 'mortar:component/input-binding@0.1.0';
import { Client } from 'mortar:host/mqtt@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { schema, toMap, type Pairs } from '../lib/guest.js';
import { DelayedSettlements, flag } from '../lib/broker.js';
import { bindingError, bindingFromHost, unsupported } from '../lib/binding.js';

const OPERATIONS = ['create'];

let settings: Record<string, string> = {};
let publisher: Client | undefined;
let consumer: Client | undefined;
/** Events handed out and not yet settled, by receipt (the host's message id). */
const unsettled = new Map<string, I.Event>();
const delayed = new DelayedSettlements<I.Event>();

function connect(clientId: string, cleanSession: boolean): Client {
  try {
    return Client.connect({ url: settings.url!, clientId, cleanSession, keepAliveSeconds: 30 });
  } catch (err) {
    throw bindingFromHost(err, `failed to connect to ${settings.url}`);
  }
}

function release(c: Client | undefined): void {
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  try {
    if (c && dispose) (c as unknown as Record<symbol, () => void>)[dispose]?.();
  } catch {
    /* already gone */
  }
}

function pub(): Client {
  // A clean session: its id is new on every start, so a persistent one would be left on the broker.
  publisher ??= connect('', true);
  return publisher;
}

function run<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (err) {
    throw bindingFromHost(err, what);
  }
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `mqtt3` and `mqtt` (dapr/dapr cmd/daprd/components/binding_mqtt3.go).
      types: ['bindings.mqtt3', 'bindings.mqtt'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          url: {
            type: 'string',
            pattern: '^(tcp|mqtt|ssl|mqtts|tcps|tls|ws|wss)://',
            'x-mortar-grant': 'mqtt',
            description: 'tcp://[username][:password]@host[:port]',
            'x-example': 'tcp://127.0.0.1:1883',
          },
          topic: { type: 'string', minLength: 1, description: 'The topic to listen on or send events to.' },
          consumerID: { type: 'string', minLength: 1, description: 'The client id; the consumer connects as <consumerID>-consumer.' },
          retain: { type: 'boolean', default: false },
          cleanSession: { type: 'boolean', default: false },
          backOffMaxRetries: { type: 'integer', description: 'Accepted for Dapr compatibility: the host retries deliveries as the resiliency policy says.' },
          qos: { type: 'string', description: 'Deprecated and ignored, as in Dapr: QoS is 1.' },
          caCert: { type: 'string' },
          clientCert: { type: 'string' },
          clientKey: { type: 'string', 'x-sensitive': true },
        },
        ['url', 'topic', 'consumerID'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    for (const k of ['caCert', 'clientCert', 'clientKey']) {
      if (settings[k]) throw { tag: 'invalid-metadata', val: `${k}: TLS client certificates are not supported by mortar:host/mqtt` };
    }
    try {
      pub();
    } catch (err) {
      const e = err as { tag: string; val: string };
      throw { tag: e.tag === 'unavailable' ? 'unavailable' : 'other', val: `url: ${e.val}` };
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

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    if (!OPERATIONS.includes(r.operation)) unsupported(r, OPERATIONS);
    const topic = toMap(r.metadata).topic || settings.topic!;
    if (/[+#]/.test(topic)) throw bindingError('invalid-argument', `topic: '${topic}': wildcards are for subscribing, not publishing`);
    run(() => pub().publish(topic, r.data, 'at-least-once', flag(settings, 'retain', false)), 'failed to publish');
    return undefined;
  },
};

export const inputBinding = {
  open(): void {
    if (consumer) return;
    const c = connect(`${settings.consumerID}-consumer`, flag(settings, 'cleanSession', false));
    try {
      c.subscribe(settings.topic!, 'at-least-once');
    } catch (err) {
      release(c);
      throw bindingFromHost(err, `subscribing to ${settings.topic}`);
    }
    consumer = c;
  },

  fetch(max: number, wait: number): I.Event[] {
    if (!consumer) inputBinding.open();
    const out = delayed.due(Number(nowMs()));
    if (out.length > 0 || max === 0) return out;
    const got = run(() => consumer!.receive(max, delayed.size > 0 ? Math.min(wait, 100) : wait), 'receiving');
    for (const m of got) {
      const e: I.Event = { receipt: String(m.id), data: m.payload, metadata: [['topic', m.topic]], contentType: undefined };
      unsettled.set(e.receipt, e);
      out.push(e);
    }
    return out;
  },

  ack(receipts: string[]): void {
    const ids: number[] = [];
    for (const r of receipts) if (unsettled.delete(r)) ids.push(Number(r));
    if (ids.length > 0 && consumer) run(() => consumer!.ack(ids as unknown as BigUint64Array), 'acknowledging');
  },

  nack(receipts: string[], _error: string, delayMs: number): void {
    const at = Number(nowMs()) + Math.max(0, delayMs);
    for (const r of receipts) {
      const e = unsettled.get(r);
      if (e) delayed.add(e, at);
    }
  },

  close(): void {
    const c = consumer;
    consumer = undefined;
    unsettled.clear();
    delayed.clear();
    release(c);
  },
};
