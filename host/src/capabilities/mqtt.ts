/**
 * `mortar:host/mqtt`: one MQTT 3.1.1 client per `connect` (mqtt.js, reconnecting on its own).
 *
 * Incoming messages go to an `Inbox`. For QoS 1 and 2 the client's acknowledgement (PUBACK / PUBCOMP) is
 * held until the guest acks: mqtt.js sends it when `handleMessage`'s callback runs, and reads the next
 * packet only then, so acknowledgements leave in arrival order as MQTT 3.1.1 requires. After a reconnect
 * the held acknowledgements are forgotten; with a persistent session the broker sends those messages again.
 */
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { Inbox } from './inbox.js';
import { witError, type WitError } from './wit-error.js';

export type Qos = 'at-most-once' | 'at-least-once' | 'exactly-once';
const QOS: readonly Qos[] = ['at-most-once', 'at-least-once', 'exactly-once'];
export interface MqttConnectOptions { url: string; clientId: string; cleanSession: boolean; keepAliveSeconds: number }
interface MqttMessage { id: bigint; topic: string; payload: Uint8Array; qos: Qos; retain: boolean; duplicate: boolean }

const require = createRequire(import.meta.url);
const loadMqtt = () => require('mqtt') as typeof import('mqtt');

const CONNECT_TIMEOUT_MS = 5000;
const OPERATION_TIMEOUT_MS = 5000;

export class MqttConnection {
  readonly #inbox = new Inbox<MqttMessage>();
  /** Acknowledgements held for the guest, in arrival order. */
  #held: Array<{ id: bigint; done: () => void; acked: boolean }> = [];
  #next = 1n;

  private constructor(readonly client: MqttClient) {
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      const id = this.#next++;
      const qos = QOS[packet.qos] ?? 'at-most-once';
      if (packet.qos > 0) this.#held.push({ id, done: () => done(), acked: false });
      this.#inbox.push({
        id, topic: packet.topic, payload: toBytes(packet.payload), qos, retain: packet.retain, duplicate: packet.dup,
      });
      if (packet.qos === 0) done();
    };
    // A new connection: the broker resends what was not acknowledged, with new packet ids.
    client.on('close', () => {
      this.#held = [];
      this.#inbox.clear();
    });
    client.on('error', () => { /* reported per operation; mqtt.js reconnects */ });
  }

  static async connect(o: MqttConnectOptions): Promise<MqttConnection> {
    const url = o.url.replace(/^tcp:\/\//i, 'mqtt://').replace(/^ssl:\/\//i, 'mqtts://');
    try {
      const client = await loadMqtt().connectAsync(url, {
        clientId: o.clientId || `mortar-${randomUUID().slice(0, 13)}`, clean: o.cleanSession, keepalive: o.keepAliveSeconds, protocolVersion: 4,
        connectTimeout: CONNECT_TIMEOUT_MS, reconnectPeriod: 1000, resubscribe: true,
      }, false);
      return new MqttConnection(client);
    } catch (err) {
      throw witError('unavailable', (err as Error).message);
    }
  }

  async publish(topic: string, payload: Uint8Array, qos: Qos, retain: boolean): Promise<void> {
    this.#ready();
    await within(this.client.publishAsync(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: qosNumber(qos), retain }), 'publish');
  }

  async subscribe(filter: string, qos: Qos): Promise<void> {
    this.#ready();
    const grants = await within(this.client.subscribeAsync(filter, { qos: qosNumber(qos) }), 'subscribe');
    if (grants.some((g) => g.qos === 128)) throw witError('refused', `the broker refused the subscription to ${filter}`);
  }

  async unsubscribe(filter: string): Promise<void> {
    this.#ready();
    await within(this.client.unsubscribeAsync(filter), 'unsubscribe');
  }

  receive(max: number, waitMs: number): Promise<MqttMessage[]> {
    return this.#inbox.take(max, waitMs);
  }

  ack(ids: bigint[]): void {
    const set = new Set(ids);
    for (const h of this.#held) if (set.has(h.id)) h.acked = true;
    while (this.#held[0]?.acked) this.#held.shift()!.done();
  }

  async close(): Promise<void> {
    this.#held = [];
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
    return await Promise.race([p, new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(witError('unavailable', `MQTT ${what} not acknowledged within ${OPERATION_TIMEOUT_MS}ms`)), OPERATION_TIMEOUT_MS);
    })]);
  } catch (err) {
    if (err && typeof err === 'object' && 'tag' in err) throw err as WitError;
    throw witError('unavailable', `MQTT ${what}: ${(err as Error).message}`);
  } finally {
    clearTimeout(t);
  }
}
