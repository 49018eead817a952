/**
 * `mortar:host/mqtt`: one MQTT 3.1.1 client per `connect` (mqtt.js, reconnecting on its own).
 *
 * Incoming messages go to an `Inbox`. For QoS 1 and 2 the client's acknowledgement is held until the guest
 * acks, and acknowledgements leave in arrival order as MQTT 3.1.1 requires (an unacknowledged message holds
 * back the acknowledgements of those after it). mqtt.js sends the acknowledgement when `handleMessage`'s
 * callback runs and reads the next packet only then, so holding the callback would hand out one message at
 * a time, each waiting for the app's answer to the one before (measured: 22 messages/s into an app). For
 * QoS 1 the callback runs at once and the PUBACK it sends is kept (`#capture`) and written when the guest
 * acks, so the guest gets as many messages at once as the broker has in flight for this client (Mosquitto's
 * `max_inflight_messages`, 20 by default). QoS 2 keeps holding the callback (its PUBREC goes through
 * mqtt.js's incoming store). After a reconnect the held acknowledgements are forgotten (packet ids belong
 * to one connection); with a persistent session the broker sends those messages again.
 *
 * Shared subscriptions (`$share/<group>/<filter>`) are subscribed again after every reconnect, also when the
 * broker says it kept the session: Mosquitto (2.0.11 measured) keeps a persistent session's plain
 * subscriptions across its own restart but drops its shared ones, and mqtt.js resubscribes only to a new session.
 * Until a connection with shared subscriptions has them back, publishes from this process to the same broker
 * wait (up to `RESTORE_WAIT_MS`): a message published meanwhile would find no subscriber and be dropped.
 */
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import type { IPublishPacket, MqttClient, Packet } from 'mqtt';
import { Inbox } from './inbox.js';
import { witError, type WitError } from './wit-error.js';
import { redact } from './redact.js';
import type { CapabilityHandlers } from './capability.js';
import { endpointOf, DEFAULT_PORTS } from './grants.js';

export type Qos = 'at-most-once' | 'at-least-once' | 'exactly-once';
const QOS: readonly Qos[] = ['at-most-once', 'at-least-once', 'exactly-once'];
export interface MqttConnectOptions {
  url: string;
  clientId: string;
  cleanSession: boolean;
  keepAliveSeconds: number;
}
interface MqttMessage {
  id: bigint;
  topic: string;
  payload: Uint8Array;
  qos: Qos;
  retain: boolean;
  duplicate: boolean;
}

/** mqtt.js's own (private) packet writer, through which `handlePublish` sends a QoS 1 message's PUBACK. */
interface SendsPackets {
  _sendPacket(packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]): void;
}

const require = createRequire(import.meta.url);
const loadMqtt = () => require('mqtt') as typeof import('mqtt');

const CONNECT_TIMEOUT_MS = 5000;
const OPERATION_TIMEOUT_MS = 5000;
/** Longest a publish waits for shared subscriptions to the same broker to be restored after a reconnect. */
const RESTORE_WAIT_MS = 5000;

/** Per broker (host:port): shared subscriptions of this process not yet restored after a disconnect. */
const restoring = new Map<string, Set<Promise<void>>>();

function awaitRestored(broker: string): Promise<void> | undefined {
  const pending = restoring.get(broker);
  if (!pending || pending.size === 0) return undefined;
  return Promise.race([Promise.allSettled([...pending]).then(() => undefined), new Promise<void>((r) => setTimeout(r, RESTORE_WAIT_MS).unref())]);
}

export class MqttConnection {
  readonly #inbox = new Inbox<MqttMessage>();
  /**
   * Acknowledgements held for the guest, in arrival order: a QoS 1 message's PUBACK (`puback`, kept from
   * mqtt.js, matched by `messageId`), or a QoS 2 message's mqtt.js callback (`done`, which sends its PUBREC).
   */
  #held: Array<{ id: bigint; acked: boolean; messageId?: number; puback?: Packet; done?: () => void }> = [];
  /** Writes a packet with mqtt.js's own writer (not the PUBACK-keeping one). */
  #send: (packet: Packet) => void = () => undefined;
  #next = 1n;
  /** Shared subscriptions in force (filter -> QoS), to subscribe again after a reconnect. */
  readonly #shared = new Map<string, 0 | 1 | 2>();
  /** Woken when a message arrives whose acknowledgement is held. */
  #onHeld: Array<() => void> = [];

  /** Resolves the current restore (see `restoring`) once this connection's shared subscriptions are back. */
  #restored?: () => void;

  private constructor(
    readonly client: MqttClient,
    readonly broker: string,
  ) {
    const send = (client as unknown as SendsPackets)._sendPacket;
    if (typeof send !== 'function') throw new Error('mqtt.js has no _sendPacket: PUBACKs cannot be held for the guest');
    this.#send = (packet) => send.call(client, packet);
    (client as unknown as SendsPackets)._sendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => {
      const messageId = packet.cmd === 'puback' ? packet.messageId : undefined;
      const h = messageId === undefined ? undefined : this.#held.find((x) => x.messageId === messageId && !x.puback);
      if (!h) {
        send.call(client, packet, cb, ...rest);
        return;
      }
      h.puback = packet; // sent by `#release` once the guest acked it and everything before it
      cb?.(); // mqtt.js goes on to read the next packet
      this.#release();
    };
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      const id = this.#next++;
      const qos = QOS[packet.qos] ?? 'at-most-once';
      if (packet.qos === 1) this.#held.push({ id, messageId: packet.messageId, acked: false });
      else if (packet.qos === 2) this.#held.push({ id, acked: false, done: () => done() });
      if (packet.qos > 0) for (const wake of this.#onHeld.splice(0)) wake();
      this.#inbox.push({
        id,
        topic: packet.topic,
        payload: toBytes(packet.payload),
        qos,
        retain: packet.retain,
        duplicate: packet.dup,
      });
      // QoS 1: mqtt.js "sends" the PUBACK, which `_sendPacket` above keeps, and reads the next packet.
      if (packet.qos < 2) done();
    };
    // A new connection: the broker resends what was not acknowledged, with new packet ids.
    client.on('close', () => {
      this.#held = [];
      this.#inbox.clear();
      if (this.#shared.size > 0 && !this.#restored && !client.disconnecting) this.#startRestore();
    });
    client.on('error', () => {
      /* reported per operation; mqtt.js reconnects */
    });
    client.on('connect', (connack) => {
      const restored = this.#restored;
      if (!restored) return;
      if (!connack.sessionPresent) {
        restored(); // a new session: mqtt.js subscribes to everything again itself, before anything else is sent
        return;
      }
      // The SUBACKs may queue behind QoS 2 messages whose acknowledgement is held: the broker has the
      // subscriptions once it read them, so wait for the SUBACKs only briefly.
      // `resubscribe`: mqtt.js otherwise skips filters it believes subscribed.
      const map: Record<string, { qos: 0 | 1 | 2 }> = Object.fromEntries([...this.#shared].map(([filter, qos]) => [filter, { qos }]));
      const again = client.subscribeAsync({ ...map, resubscribe: true } as unknown as Record<string, { qos: 0 | 1 | 2 }>).catch(() => undefined);
      void Promise.race([again, new Promise((r) => setTimeout(r, 500).unref())]).then(restored);
    });
  }

  /** Marks this connection's shared subscriptions as missing until the next connect restores them. */
  #startRestore(): void {
    let set = restoring.get(this.broker);
    if (!set) restoring.set(this.broker, (set = new Set()));
    const pending = new Promise<void>((resolve) => {
      this.#restored = () => {
        this.#restored = undefined;
        set.delete(pending);
        resolve();
      };
    });
    set.add(pending);
  }

  /**
   * Connects and waits for the CONNACK. The message handler is in place before the client connects: a
   * persistent session's backlog may arrive in the same read as the CONNACK, and mqtt.js's default handler
   * would acknowledge those messages with no one to take them.
   */
  static async connect(o: MqttConnectOptions): Promise<MqttConnection> {
    const url = o.url.replace(/^tcp:\/\//i, 'mqtt://').replace(/^ssl:\/\//i, 'mqtts://');
    let client: MqttClient;
    try {
      client = loadMqtt().connect(url, {
        clientId: o.clientId || `mortar-${randomUUID().slice(0, 13)}`,
        clean: o.cleanSession,
        keepalive: o.keepAliveSeconds,
        protocolVersion: 4,
        connectTimeout: CONNECT_TIMEOUT_MS,
        reconnectPeriod: 1000,
        resubscribe: true,
        manualConnect: true,
      });
    } catch (err) {
      throw witError('unavailable', (err as Error).message);
    }
    const conn = new MqttConnection(client, endpointOf(o.url, DEFAULT_PORTS.mqtt).toLowerCase());
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          client.off('connect', onConnect);
          client.off('error', done);
          client.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onConnect = () => done();
        const onClose = () => done(new Error("couldn't connect to the MQTT broker"));
        client.on('connect', onConnect);
        client.on('error', done);
        client.on('close', onClose);
        client.connect();
      });
    } catch (err) {
      await client.endAsync(true).catch(() => undefined);
      throw witError('unavailable', (err as Error).message);
    }
    return conn;
  }

  async publish(topic: string, payload: Uint8Array, qos: Qos, retain: boolean): Promise<void> {
    const restore = awaitRestored(this.broker);
    if (restore) await restore;
    this.#ready();
    await within(
      this.client.publishAsync(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: qosNumber(qos), retain }),
      'publish',
    );
  }

  /**
   * Subscribes and waits for the SUBACK, or for a message whose acknowledgement is held: behind a QoS 2
   * message mqtt.js reads the next packet only once that message is acked, so a SUBACK queued behind a
   * persistent session's backlog arrives only after the guest takes the backlog. Waiting for it then would
   * wait forever.
   */
  async subscribe(filter: string, qos: Qos): Promise<void> {
    this.#ready();
    const n = qosNumber(qos);
    const suback = this.client.subscribeAsync(filter, { qos: n });
    let wake: (() => void) | undefined;
    const backlog = new Promise<undefined>((resolve) => {
      if (this.#held.length > 0) resolve(undefined);
      else this.#onHeld.push((wake = () => resolve(undefined)));
    });
    let grants;
    try {
      grants = await within(Promise.race([suback, backlog]), 'subscribe');
    } finally {
      if (wake) this.#onHeld = this.#onHeld.filter((w) => w !== wake); // answered by the SUBACK: no waiter left behind
    }
    if (grants === undefined) suback.catch(() => undefined);
    else if (grants.some((g) => g.qos === 128)) throw witError('refused', `the broker refused the subscription to ${filter}`);
    if (filter.startsWith('$share/')) this.#shared.set(filter, n);
  }

  async unsubscribe(filter: string): Promise<void> {
    this.#ready();
    this.#shared.delete(filter);
    await within(this.client.unsubscribeAsync(filter), 'unsubscribe');
  }

  receive(max: number, waitMs: number): Promise<MqttMessage[]> {
    return this.#inbox.take(max, waitMs);
  }

  ack(ids: bigint[]): void {
    const set = new Set(ids);
    for (const h of this.#held) if (set.has(h.id)) h.acked = true;
    this.#release();
  }

  /** Sends the held acknowledgements that may leave: those acked with nothing unacknowledged before them. */
  #release(): void {
    for (let h = this.#held[0]; h?.acked && (h.done || h.puback); h = this.#held[0]) {
      this.#held.shift();
      if (h.done) h.done();
      else if (this.client.connected) this.#send(h.puback!);
    }
  }

  async close(): Promise<void> {
    this.#held = [];
    this.#onHeld = [];
    this.#shared.clear();
    this.#restored?.();
    await this.client.endAsync(true).catch(() => undefined);
  }

  #ready(): void {
    if (!this.client.connected) throw witError('unavailable', 'not connected to the MQTT broker (reconnecting)');
  }
}

function qosNumber(q: Qos): 0 | 1 | 2 {
  const n = QOS.indexOf(q);
  return (n < 0 ? 1 : n) as 0 | 1 | 2;
}

function toBytes(p: Buffer | string): Uint8Array {
  return typeof p === 'string' ? new Uint8Array(Buffer.from(p)) : new Uint8Array(p);
}

async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(witError('unavailable', `MQTT ${what} not acknowledged within ${OPERATION_TIMEOUT_MS}ms`)), OPERATION_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    if (err && typeof err === 'object' && 'tag' in err) throw err as WitError;
    throw witError('unavailable', `MQTT ${what}: ${(err as Error).message}`);
  } finally {
    clearTimeout(t);
  }
}

/** `mortar:host/mqtt` on the host: a client of its own on a granted broker. */
export const mqttCapability: CapabilityHandlers<'mqtt'> = {
  functions: {},
  resources: {
    client: {
      statics: {
        connect: {
          grant: (args) => [{ kind: 'mqtt', value: (args[0] as MqttConnectOptions).url, shown: redact((args[0] as MqttConnectOptions).url) }],
          run: (_ctx, args) => MqttConnection.connect(args[0] as MqttConnectOptions),
        },
      },
      methods: {
        publish: (c: MqttConnection, a) => c.publish(String(a[0]), a[1] as Uint8Array, a[2] as Qos, Boolean(a[3])),
        subscribe: (c: MqttConnection, a) => c.subscribe(String(a[0]), a[1] as Qos),
        unsubscribe: (c: MqttConnection, a) => c.unsubscribe(String(a[0])),
        receive: (c: MqttConnection, a) => c.receive(Number(a[0]), Number(a[1])),
        ack: (c: MqttConnection, a) => c.ack(a[0] as bigint[]),
      },
      close: (c: MqttConnection) => c.close(),
    },
  },
};
