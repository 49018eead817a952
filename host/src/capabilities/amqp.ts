/**
 * `mortar:host/amqp`: one AMQP 0-9-1 connection per `open`, with a confirm channel for publishing and
 * declaring and a separate channel for consuming, so a refused declaration never kills the consumers.
 *
 * Deliveries go to an `Inbox` the guest drains with `receive`. A connection that breaks is not repaired
 * here: every later call fails `unavailable`, the guest opens a new one and declares again, and the broker
 * hands out again whatever was unacknowledged.
 */
import { createRequire } from 'node:module';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { Inbox } from './inbox.js';
import { isConnectionFailure, witError, type WitError } from './wit-error.js';
import { redact } from './redact.js';
import type { CapabilityHandlers } from './capability.js';

export type FieldValue = { tag: 'text'; val: string } | { tag: 'int'; val: bigint } | { tag: 'boolean'; val: boolean };
type Table = Array<[string, FieldValue]>;

/** Mirrors `properties` (jco's camelCase field names). */
export interface AmqpProperties {
  contentType?: string;
  persistent: boolean;
  expirationMs?: bigint;
  priority?: number;
  messageId?: string;
  headers: Table;
}
export interface AmqpOutgoing {
  exchange: string;
  routingKey: string;
  body: Uint8Array;
  properties: AmqpProperties;
}
interface AmqpMessage {
  consumerTag: string;
  deliveryTag: bigint;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  body: Uint8Array;
  properties: AmqpProperties;
}

const require = createRequire(import.meta.url);
const loadAmqp = () => require('amqplib') as typeof import('amqplib');

const CONNECT_TIMEOUT_MS = 5000;

export class AmqpConnection {
  readonly #inbox = new Inbox<AmqpMessage>();
  /** Unsettled deliveries of the consuming channel, by tag. */
  readonly #unsettled = new Map<number, ConsumeMessage>();
  #publisher?: Promise<ConfirmChannel>;
  #consumer?: Promise<Channel>;
  #prefetch = -1;
  #broken?: WitError;

  private constructor(readonly model: ChannelModel) {
    model.on('error', () => {
      /* followed by close */
    });
    model.on('close', (err?: Error) => this.#break(`connection closed${err ? `: ${err.message}` : ''}`));
  }

  static async open(url: string): Promise<AmqpConnection> {
    try {
      const model = await loadAmqp().connect(url, { timeout: CONNECT_TIMEOUT_MS, clientProperties: { connection_name: 'mortar' } });
      return new AmqpConnection(model);
    } catch (err) {
      throw toWit(err);
    }
  }

  async declareExchange(name: string, o: { kind: string; durable: boolean; autoDelete: boolean }): Promise<void> {
    await this.#onPublisher((ch) => ch.assertExchange(name, o.kind, { durable: o.durable, autoDelete: o.autoDelete }));
  }

  async declareQueue(name: string, o: { durable: boolean; exclusive: boolean; autoDelete: boolean; arguments: Table }): Promise<string> {
    const r = await this.#onPublisher((ch) =>
      ch.assertQueue(name, { durable: o.durable, exclusive: o.exclusive, autoDelete: o.autoDelete, arguments: fromTable(o.arguments) }),
    );
    return r.queue;
  }

  async bindQueue(queue: string, exchange: string, key: string): Promise<void> {
    await this.#onPublisher((ch) => ch.bindQueue(queue, exchange, key));
  }

  async publish(messages: AmqpOutgoing[]): Promise<Array<{ tag: 'ok' } | { tag: 'err'; val: string }>> {
    return this.#onPublisher(async (ch) =>
      Promise.all(
        messages.map(
          (m) =>
            new Promise<{ tag: 'ok' } | { tag: 'err'; val: string }>((resolve) => {
              try {
                ch.publish(
                  m.exchange,
                  m.routingKey,
                  Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength),
                  publishOptions(m.properties),
                  (err: unknown) => resolve(err ? { tag: 'err', val: err instanceof Error ? err.message : 'nacked by the broker' } : { tag: 'ok' }),
                );
              } catch (err) {
                resolve({ tag: 'err', val: (err as Error).message });
              }
            }),
        ),
      ),
    );
  }

  async consume(queue: string, prefetch: number): Promise<string> {
    const ch = await this.#consuming();
    try {
      if (prefetch !== this.#prefetch) {
        await ch.prefetch(prefetch);
        this.#prefetch = prefetch;
      }
      const { consumerTag } = await ch.consume(
        queue,
        (msg) => {
          if (!msg) return; // cancelled by the broker (queue deleted)
          this.#unsettled.set(msg.fields.deliveryTag, msg);
          this.#inbox.push(toMessage(msg));
        },
        { noAck: false },
      );
      return consumerTag;
    } catch (err) {
      throw toWit(err);
    }
  }

  async cancel(consumerTag: string): Promise<void> {
    const ch = await this.#consuming();
    try {
      await ch.cancel(consumerTag);
    } catch (err) {
      throw toWit(err);
    }
    // Delivered to us but never handed to the guest: back to the queue for the other consumers.
    for (const m of this.#inbox.remove((x) => x.consumerTag === consumerTag)) {
      const msg = this.#unsettled.get(Number(m.deliveryTag));
      this.#unsettled.delete(Number(m.deliveryTag));
      if (msg) ch.nack(msg, false, true);
    }
  }

  receive(max: number, waitMs: number): Promise<AmqpMessage[]> {
    if (this.#broken) return Promise.reject(this.#broken);
    return this.#inbox.take(max, waitMs);
  }

  async ack(tags: bigint[]): Promise<void> {
    const ch = await this.#consuming();
    for (const t of tags) {
      const msg = this.#unsettled.get(Number(t));
      if (!msg) continue; // from before a reconnect, or settled twice: the broker must not see it
      this.#unsettled.delete(Number(t));
      ch.ack(msg);
    }
  }

  async nack(tags: bigint[], requeue: boolean): Promise<void> {
    const ch = await this.#consuming();
    for (const t of tags) {
      const msg = this.#unsettled.get(Number(t));
      if (!msg) continue;
      this.#unsettled.delete(Number(t));
      ch.nack(msg, false, requeue);
    }
  }

  async close(): Promise<void> {
    this.#break('connection dropped by the component');
    await this.model.close().catch(() => undefined);
  }

  #break(reason: string): void {
    if (this.#broken) return;
    this.#broken = witError('unavailable', reason);
    this.#unsettled.clear();
    this.#inbox.fail(Object.assign(new Error(reason), this.#broken));
  }

  /** Runs `fn` on the publishing channel; a channel the broker closed (refused operation) is reopened next time. */
  async #onPublisher<T>(fn: (ch: ConfirmChannel) => Promise<T>): Promise<T> {
    if (this.#broken) throw this.#broken;
    if (!this.#publisher) {
      const p = this.model.createConfirmChannel();
      this.#publisher = p;
      p.then(
        (ch) => {
          ch.on('error', () => {
            /* followed by close */
          });
          ch.on('close', () => {
            if (this.#publisher === p) this.#publisher = undefined;
          });
        },
        () => {
          if (this.#publisher === p) this.#publisher = undefined;
        },
      );
    }
    try {
      return await fn(await this.#publisher);
    } catch (err) {
      throw toWit(err);
    }
  }

  /** The consuming channel. If the broker closes it, the connection is closed too: consumers cannot be resumed. */
  async #consuming(): Promise<Channel> {
    if (this.#broken) throw this.#broken;
    if (!this.#consumer) {
      this.#consumer = this.model.createChannel();
      this.#consumer.then(
        (ch) => {
          ch.on('error', () => {
            /* followed by close */
          });
          ch.on('close', () => {
            this.#break('consuming channel closed by the broker');
            void this.model.close().catch(() => undefined);
          });
        },
        () => undefined,
      );
    }
    try {
      return await this.#consumer;
    } catch (err) {
      throw toWit(err);
    }
  }
}

function fromTable(t: Table): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of t) out[k] = v.tag === 'int' ? Number(v.val) : v.val;
  return out;
}

function toTable(h: Record<string, unknown> | undefined): Table {
  const out: Table = [];
  for (const [k, v] of Object.entries(h ?? {})) {
    if (typeof v === 'boolean') out.push([k, { tag: 'boolean', val: v }]);
    else if (typeof v === 'number' && Number.isInteger(v)) out.push([k, { tag: 'int', val: BigInt(v) }]);
    else if (typeof v === 'bigint') out.push([k, { tag: 'int', val: v }]);
    else if (v !== undefined && v !== null) out.push([k, { tag: 'text', val: Buffer.isBuffer(v) ? v.toString('utf8') : String(v) }]);
  }
  return out;
}

function publishOptions(p: AmqpProperties): Options.Publish {
  return {
    contentType: p.contentType ?? undefined,
    persistent: p.persistent,
    expiration: p.expirationMs != null ? String(p.expirationMs) : undefined,
    priority: p.priority ?? undefined,
    messageId: p.messageId ?? undefined,
    headers: fromTable(p.headers),
  };
}

function toMessage(msg: ConsumeMessage): AmqpMessage {
  const p = msg.properties;
  return {
    consumerTag: msg.fields.consumerTag,
    deliveryTag: BigInt(msg.fields.deliveryTag),
    exchange: msg.fields.exchange,
    routingKey: msg.fields.routingKey,
    redelivered: msg.fields.redelivered,
    body: new Uint8Array(msg.content),
    properties: {
      contentType: p.contentType ?? undefined,
      persistent: p.deliveryMode === 2,
      expirationMs: p.expiration != null && /^\d+$/.test(String(p.expiration)) ? BigInt(p.expiration) : undefined,
      priority: p.priority ?? undefined,
      messageId: p.messageId ?? undefined,
      headers: toTable(p.headers),
    },
  };
}

function toWit(err: unknown): WitError {
  if (err && typeof err === 'object' && 'tag' in err) return err as WitError;
  const msg = err instanceof Error ? err.message : String(err);
  if (isConnectionFailure(err) || /Connection closed|Channel closed|closed|ended/i.test(msg)) {
    // A channel-level refusal also says "Channel closed by server: 406 (PRECONDITION-FAILED) ...".
    if (/\b(40[0-9])\b|PRECONDITION|NOT[-_]FOUND|ACCESS[-_]REFUSED|RESOURCE[-_]LOCKED/i.test(msg)) return witError('refused', msg);
    return witError('unavailable', msg);
  }
  if (/PRECONDITION|NOT[-_]FOUND|ACCESS[-_]REFUSED|RESOURCE[-_]LOCKED/i.test(msg)) return witError('refused', msg);
  return witError('other', msg);
}

/** `mortar:host/amqp` on the host: a connection of its own to a granted broker. */
export const amqpCapability: CapabilityHandlers<'amqp'> = {
  functions: {},
  resources: {
    connection: {
      statics: {
        open: {
          grant: (args) => [{ kind: 'amqp', value: String(args[0]), shown: redact(String(args[0])) }],
          run: (_ctx, args) => AmqpConnection.open(String(args[0])),
        },
      },
      methods: {
        'declare-exchange': (c: AmqpConnection, a) => c.declareExchange(String(a[0]), a[1] as never),
        'declare-queue': (c: AmqpConnection, a) => c.declareQueue(String(a[0]), a[1] as never),
        'bind-queue': (c: AmqpConnection, a) => c.bindQueue(String(a[0]), String(a[1]), String(a[2])),
        publish: (c: AmqpConnection, a) => c.publish(a[0] as AmqpOutgoing[]),
        consume: (c: AmqpConnection, a) => c.consume(String(a[0]), Number(a[1])),
        cancel: (c: AmqpConnection, a) => c.cancel(String(a[0])),
        receive: (c: AmqpConnection, a) => c.receive(Number(a[0]), Number(a[1])),
        ack: (c: AmqpConnection, a) => c.ack(a[0] as bigint[]),
        nack: (c: AmqpConnection, a) => c.nack(a[0] as bigint[], Boolean(a[1])),
      },
      close: (c: AmqpConnection) => c.close(),
    },
  },
};
