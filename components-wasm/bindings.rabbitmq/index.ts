// world: binding-component
/**
 * bindings.rabbitmq: a RabbitMQ queue as an input and output binding, as Dapr's `bindings.rabbitmq`
 * (components-contrib `bindings/rabbitmq/rabbitmq.go`). Metadata `host` (the AMQP URL, granted),
 * `queueName` (required), `durable`, `deleteWhenUnused`, `exclusive`, `ttl`/`ttlInSeconds` (the queue's
 * `x-message-ttl`), `maxPriority` (`x-max-priority`), `prefetchCount`, `contentType`,
 * `reconnectWaitInSeconds`.
 *
 * The queue is declared at init with those options (as Dapr does on connect), except an `exclusive` one,
 * which belongs to the connection that declares it and is declared by `open`, on the consuming connection.
 *
 * Output: `create` publishes the data through the default exchange to `queueName`, persistent, with content
 * type `text/plain` unless the request metadata `contentType` (or the component's) says otherwise, every
 * request metadata entry as a header, `ttl`/`ttlInSeconds` as the message expiration, `priority`, and
 * `messageID` as the message id; it waits for the broker's confirm. No response.
 *
 * Input: `open` declares the queue and starts a consumer with manual acknowledgement (`prefetchCount`
 * unacknowledged deliveries at most; 0: mortar's default of 512). Each delivery is an event with the body
 * as data and its string headers as metadata (name and value URL-query-escaped, as Dapr does). `ack` acknowledges it
 * to the broker; `nack` requeues it (after its delay, held here); `close` requeues what is unsettled and
 * cancels the consumer (and the broker takes back whatever is unacknowledged when a connection breaks).
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import type * as I from 'mortar:component/input-binding@0.1.0';
import { Connection, type FieldValue, type QueueOptions } from 'mortar:host/amqp@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { i64, schema, toMap, type Pairs } from '../lib/guest.js';
import { DelayedSettlements, flag } from '../lib/broker.js';
import { bindingError, bindingFromHost, priorityOf, prop, ttlMs, unsupported } from '../lib/binding.js';

const OPERATIONS = ['create'];

let settings: Record<string, string> = {};
let conn: Connection | undefined;
/** Bumped on every new connection: receipts carry it, so a stale delivery tag never settles a new delivery. */
let generation = 0;
let consumerTag: string | undefined;
let queueTtlMs: number | undefined;
const delayed = new DelayedSettlements<string>();
/** Receipts handed out and not yet settled (requeued on close). */
const unsettled = new Set<string>();

function release(c: Connection): void {
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  try {
    if (dispose) (c as unknown as Record<symbol, () => void>)[dispose]?.();
  } catch {
    /* already gone */
  }
}

function connection(): Connection {
  if (!conn) {
    try {
      conn = Connection.open(settings.host!);
    } catch (err) {
      throw bindingFromHost(err, 'channel/connection is not open');
    }
    generation++;
    consumerTag = undefined;
    delayed.clear();
    unsettled.clear();
  }
  return conn;
}

/** Runs `fn` on the connection; a broken connection is dropped so the next call opens a new one. */
function run<T>(fn: (c: Connection) => T, what: string): T {
  const c = connection();
  try {
    return fn(c);
  } catch (err) {
    const e = bindingFromHost(err, what);
    if (e.tag === 'unavailable' && conn === c) {
      conn = undefined;
      consumerTag = undefined;
      release(c);
    }
    throw e;
  }
}

const int = (n: number): FieldValue => ({ tag: 'int', val: i64(n) });

function queueOptions(): QueueOptions {
  const args: Array<[string, FieldValue]> = [];
  if (queueTtlMs !== undefined) args.push(['x-message-ttl', int(Math.trunc(queueTtlMs))]);
  if (settings.maxPriority) args.push(['x-max-priority', int(Math.min(255, Number(settings.maxPriority)))]);
  return {
    durable: flag(settings, 'durable', false),
    exclusive: flag(settings, 'exclusive', false),
    autoDelete: flag(settings, 'deleteWhenUnused', false),
    arguments: args,
  };
}

function declare(): void {
  run((c) => c.declareQueue(settings.queueName!, queueOptions()), `declaring queue ${settings.queueName}`);
}

/** Receipts are `<generation>:<delivery tag>`; only those of the open connection can be settled. */
function tagsOf(receipts: Iterable<string>): BigUint64Array {
  const out: number[] = [];
  for (const r of receipts) {
    const [g, t] = r.split(':');
    if (Number(g) === generation && t) out.push(Number(t));
  }
  return out as unknown as BigUint64Array;
}

/** `url.QueryEscape` of Go: what Dapr does to header names and values before they become HTTP metadata. */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `rabbitmq` (dapr/dapr cmd/daprd/components/binding_rabbitmq.go).
      types: ['bindings.rabbitmq'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          host: {
            type: 'string',
            pattern: '^amqps?://',
            'x-mortar-grant': 'amqp',
            'x-sensitive': true,
            description: 'amqp://[username][:password]@host.domain[:port]',
            'x-example': 'amqp://guest:guest@127.0.0.1:5672',
          },
          queueName: { type: 'string', minLength: 1 },
          durable: { type: 'boolean', default: false },
          deleteWhenUnused: { type: 'boolean', default: false },
          exclusive: { type: 'boolean', default: false },
          ttl: { type: 'string', description: 'Default message TTL of the queue: a Go duration or whole seconds.' },
          ttlInSeconds: { type: 'string', description: 'Alias of ttl.' },
          prefetchCount: { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
          maxPriority: { type: 'integer', minimum: 0 },
          contentType: { type: 'string', description: 'Content type of published messages (default text/plain).' },
          reconnectWaitInSeconds: { type: 'string' },
          caCert: { type: 'string' },
          clientCert: { type: 'string' },
          clientKey: { type: 'string', 'x-sensitive': true },
          externalSasl: { type: 'string' },
        },
        ['host', 'queueName'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    for (const k of ['caCert', 'clientCert', 'clientKey']) {
      if (settings[k]) throw { tag: 'invalid-metadata', val: `${k}: TLS client certificates are not supported by mortar:host/amqp` };
    }
    try {
      queueTtlMs = ttlMs(metadata);
    } catch (err) {
      throw { tag: 'invalid-metadata', val: `ttl: failed to parse TTL: ${(err as { val: string }).val}` };
    }
    try {
      connection();
      if (!flag(settings, 'exclusive', false)) declare();
    } catch (err) {
      const e = err as { tag: string; val: string };
      throw { tag: e.tag === 'unavailable' ? 'unavailable' : 'other', val: `host: ${e.val}` };
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

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    if (!OPERATIONS.includes(r.operation)) unsupported(r, OPERATIONS);
    const ttl = ttlMs(r.metadata);
    const priority = priorityOf(r.metadata);
    const headers: Array<[string, FieldValue]> = r.metadata.map(([k, v]) => [k, { tag: 'text', val: v }]);
    const [res] = run(
      (c) =>
        c.publish([
          {
            exchange: '',
            routingKey: settings.queueName!,
            body: r.data,
            properties: {
              contentType: prop(r.metadata, 'contentType') || settings.contentType || 'text/plain',
              persistent: true,
              expirationMs: ttl !== undefined ? i64(Math.trunc(ttl)) : undefined,
              priority,
              messageId: prop(r.metadata, 'messageID') || undefined,
              headers,
            },
          },
        ]),
      'failed to publish message',
    );
    if (res?.tag === 'err') throw bindingError('unavailable', `failed to publish message: the broker refused it: ${res.val}`);
    return undefined;
  },
};

export const inputBinding = {
  open(): void {
    if (consumerTag !== undefined) return;
    declare();
    const prefetch = Number(settings.prefetchCount ?? '0');
    consumerTag = run((c) => c.consume(settings.queueName!, prefetch > 0 ? prefetch : 512), `consuming from ${settings.queueName}`);
  },

  fetch(max: number, wait: number): I.Event[] {
    if (consumerTag === undefined) inputBinding.open();
    const due = tagsOf(delayed.due(Number(nowMs())));
    if (due.length > 0) run((c) => c.nack(due, true), 'requeueing');
    if (max === 0) return [];
    const got = run((c) => c.receive(max, delayed.size > 0 ? Math.min(wait, 100) : wait), 'receiving');
    return got.map((m) => {
      const metadata: Pairs = [];
      for (const [k, v] of m.properties.headers) if (v.tag === 'text') metadata.push([queryEscape(k), queryEscape(v.val)]);
      const receipt = `${generation}:${m.deliveryTag}`;
      unsettled.add(receipt);
      return { receipt, data: m.body, metadata, contentType: undefined };
    });
  },

  ack(receipts: string[]): void {
    for (const r of receipts) unsettled.delete(r);
    const tags = tagsOf(receipts);
    if (tags.length > 0) run((c) => c.ack(tags), 'acknowledging');
  },

  nack(receipts: string[], _error: string, delayMs: number): void {
    for (const r of receipts) unsettled.delete(r);
    if (delayMs <= 0) {
      const tags = tagsOf(receipts);
      if (tags.length > 0) run((c) => c.nack(tags, true), 'requeueing');
      return;
    }
    const at = Number(nowMs()) + delayMs;
    for (const r of receipts) delayed.add(r, at);
  },

  close(): void {
    const tag = consumerTag;
    consumerTag = undefined;
    // Requeue what is held or unsettled now: nobody will settle it through this consumer.
    const held = tagsOf([...delayed.due(Infinity), ...unsettled]);
    unsettled.clear();
    if (conn && held.length > 0) run((c) => c.nack(held, true), 'requeueing');
    if (tag !== undefined && conn) run((c) => c.cancel(tag), 'cancelling the consumer');
  },
};
