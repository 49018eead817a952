/**
 * `mortar:host/nats`: one NATS connection per `open` (nats.js, reconnecting on its own), with JetStream
 * durable pull consumers. Each consumer the guest starts is drained by `consume()` into one `Inbox`; a
 * message stays unacknowledged on the server until the guest acks or naks it.
 */
import { createRequire } from 'node:module';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg, NatsConnection, StreamConfig } from 'nats';
import { Inbox } from './inbox.js';
import { isConnectionFailure, witError, type WitError } from './wit-error.js';
import { redact } from './redact.js';
import type { CapabilityHandlers } from './capability.js';

type Headers = Array<[string, string]>;
export interface NatsStreamConfig {
  name: string;
  subjects: string[];
  storage: 'file' | 'memory';
  maxAgeMs: bigint;
  replicas: number;
}
export interface NatsConsumerConfig {
  stream: string;
  durable: string;
  filterSubject: string;
  deliverPolicy: 'all' | 'last' | 'new' | 'last-per-subject';
  ackWaitMs: bigint;
  maxDeliver: bigint;
  maxAckPending: bigint;
}
interface NatsMessage {
  id: bigint;
  durable: string;
  subject: string;
  data: Uint8Array;
  headers: Headers;
  deliveryCount: number;
  streamSequence: bigint;
}

const require = createRequire(import.meta.url);
const loadNats = () => require('nats') as typeof import('nats');

const CONNECT_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 5000;

export class NatsLink {
  readonly #inbox = new Inbox<NatsMessage>();
  readonly #unsettled = new Map<bigint, JsMsg>();
  readonly #consumers = new Map<string, ConsumerMessages>();
  readonly #js: JetStreamClient;
  #jsm?: Promise<JetStreamManager>;
  #next = 1n;

  private constructor(readonly nc: NatsConnection) {
    this.#js = nc.jetstream({ timeout: REQUEST_TIMEOUT_MS });
  }

  static async open(servers: string[]): Promise<NatsLink> {
    try {
      const nc = await loadNats().connect({ servers, timeout: CONNECT_TIMEOUT_MS, maxReconnectAttempts: -1, reconnectTimeWait: 500, name: 'mortar' });
      return new NatsLink(nc);
    } catch (err) {
      throw toWit(err);
    }
  }

  async ensureStream(c: NatsStreamConfig): Promise<void> {
    const { StorageType, nanos } = loadNats();
    const jsm = await this.#manager();
    await guard(async () => {
      let info;
      try {
        info = await jsm.streams.info(c.name);
      } catch (err) {
        if (!/stream not found/i.test((err as Error).message)) throw err;
      }
      if (!info) {
        const cfg: Partial<StreamConfig> = {
          name: c.name,
          subjects: c.subjects,
          storage: c.storage === 'memory' ? StorageType.Memory : StorageType.File,
          num_replicas: Math.max(1, c.replicas),
        };
        if (c.maxAgeMs > 0n) cfg.max_age = nanos(Number(c.maxAgeMs));
        try {
          await jsm.streams.add(cfg);
          return;
        } catch (err) {
          // Created meanwhile by another client: fall through and add our subjects.
          if (!/already in use|already exists/i.test((err as Error).message)) throw err;
          info = await jsm.streams.info(c.name);
        }
      }
      const have = new Set(info.config.subjects ?? []);
      const missing = c.subjects.filter((s) => !have.has(s));
      if (missing.length > 0) await jsm.streams.update(c.name, { subjects: [...have, ...missing] });
    });
  }

  async streamForSubject(subject: string): Promise<string | undefined> {
    const jsm = await this.#manager();
    try {
      return await jsm.streams.find(subject);
    } catch (err) {
      if (/no stream matches subject/i.test((err as Error).message)) return undefined;
      throw toWit(err);
    }
  }

  async publish(
    subject: string,
    data: Uint8Array,
    hdrs: Headers,
    messageId: string | undefined,
  ): Promise<{ stream: string; sequence: bigint; duplicate: boolean }> {
    const { headers } = loadNats();
    const h = hdrs.length > 0 ? headers() : undefined;
    for (const [k, v] of hdrs) h!.append(k, v);
    return guard(async () => {
      const pa = await this.#js.publish(subject, data, { headers: h, msgID: messageId ?? undefined, timeout: REQUEST_TIMEOUT_MS });
      return { stream: pa.stream, sequence: BigInt(pa.seq), duplicate: pa.duplicate };
    });
  }

  async consume(c: NatsConsumerConfig, buffer: number): Promise<void> {
    if (this.#consumers.has(c.durable)) return;
    const { AckPolicy, DeliverPolicy, nanos } = loadNats();
    const jsm = await this.#manager();
    const deliver = { all: DeliverPolicy.All, last: DeliverPolicy.Last, new: DeliverPolicy.New, 'last-per-subject': DeliverPolicy.LastPerSubject }[
      c.deliverPolicy
    ];
    const config = {
      durable_name: c.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: deliver,
      ack_wait: nanos(Number(c.ackWaitMs)),
      max_deliver: Number(c.maxDeliver),
      max_ack_pending: Number(c.maxAckPending),
      ...(c.filterSubject ? { filter_subject: c.filterSubject } : {}),
    };
    await guard(async () => {
      try {
        await jsm.consumers.add(c.stream, config);
      } catch (err) {
        // Exists with another configuration: update what may be updated (the deliver policy may not).
        if (!/consumer already exists|consumer name already in use/i.test((err as Error).message)) throw err;
        const { deliver_policy: _fixed, durable_name: _name, ...rest } = config;
        await jsm.consumers.update(c.stream, c.durable, rest);
      }
      const consumer = await this.#js.consumers.get(c.stream, c.durable);
      const messages = await consumer.consume({ max_messages: Math.max(1, buffer) });
      this.#consumers.set(c.durable, messages);
      void this.#drain(c.durable, messages);
    });
  }

  async stop(durable: string): Promise<void> {
    const m = this.#consumers.get(durable);
    this.#consumers.delete(durable);
    m?.stop();
    // Pulled but never handed to the guest: redeliver them now rather than after ack-wait.
    for (const x of this.#inbox.remove((i) => i.durable === durable)) {
      this.#unsettled.get(x.id)?.nak();
      this.#unsettled.delete(x.id);
    }
  }

  receive(max: number, waitMs: number): Promise<NatsMessage[]> {
    if (this.nc.isClosed()) return Promise.reject(witError('unavailable', 'connection closed'));
    return this.#inbox.take(max, waitMs);
  }

  ack(ids: bigint[]): void {
    for (const id of ids) {
      const m = this.#unsettled.get(id);
      if (!m) continue;
      this.#unsettled.delete(id);
      m.ack();
    }
  }

  nak(ids: bigint[], delayMs: number): void {
    for (const id of ids) {
      const m = this.#unsettled.get(id);
      if (!m) continue;
      this.#unsettled.delete(id);
      m.nak(delayMs > 0 ? delayMs : undefined);
    }
  }

  async close(): Promise<void> {
    for (const m of this.#consumers.values()) m.stop();
    this.#consumers.clear();
    this.#unsettled.clear();
    await this.nc.close().catch(() => undefined);
  }

  async #drain(durable: string, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        const id = this.#next++;
        this.#unsettled.set(id, m);
        const headers: Headers = [];
        if (m.headers) for (const [k, vs] of m.headers) for (const v of vs) headers.push([k, v]);
        this.#inbox.push({
          id,
          durable,
          subject: m.subject,
          data: new Uint8Array(m.data),
          headers,
          deliveryCount: m.info.redeliveryCount,
          streamSequence: BigInt(m.seq),
        });
      }
    } catch {
      // The iterator ends on stop or close; a consumer deleted on the server is started again by the guest.
    }
    if (this.#consumers.get(durable) === messages) this.#consumers.delete(durable);
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= this.nc.jetstreamManager({ timeout: REQUEST_TIMEOUT_MS }).catch((err: unknown) => {
      this.#jsm = undefined;
      throw toWit(err);
    });
    return this.#jsm;
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toWit(err);
  }
}

function toWit(err: unknown): WitError {
  if (err && typeof err === 'object' && 'tag' in err) return err as WitError;
  const msg = err instanceof Error ? err.message : String(err);
  const code = String((err as { code?: unknown })?.code ?? '');
  if (isConnectionFailure(err) || /CONNECTION_REFUSED|CONNECTION_CLOSED|DISCONNECT|TIMEOUT|503/.test(code) || /no responders|closed|disconnect/i.test(msg)) {
    return witError('unavailable', msg);
  }
  if (/^4\d\d$/.test(code) || /stream|consumer|subject/i.test(msg)) return witError('refused', msg);
  return witError('other', msg);
}

/** The servers of a `servers` argument (comma-separated). */
function serversOf(arg: unknown): string[] {
  return String(arg)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** `mortar:host/nats` on the host: a connection of its own to granted servers (every one must be granted). */
export const natsCapability: CapabilityHandlers<'nats'> = {
  functions: {},
  resources: {
    connection: {
      statics: {
        open: {
          grant: (args) => {
            const servers = serversOf(args[0]);
            // None named: the whole argument is what is refused (an empty value is never granted).
            return (servers.length === 0 ? [String(args[0])] : servers).map((s) => ({ kind: 'nats' as const, value: s, shown: redact(s) }));
          },
          run: (_ctx, args) => NatsLink.open(serversOf(args[0])),
        },
      },
      methods: {
        'ensure-stream': (c: NatsLink, a) => c.ensureStream(a[0] as NatsStreamConfig),
        'stream-for-subject': (c: NatsLink, a) => c.streamForSubject(String(a[0])),
        publish: (c: NatsLink, a) => c.publish(String(a[0]), a[1] as Uint8Array, a[2] as Array<[string, string]>, (a[3] as string | undefined) ?? undefined),
        consume: (c: NatsLink, a) => c.consume(a[0] as NatsConsumerConfig, Number(a[1])),
        stop: (c: NatsLink, a) => c.stop(String(a[0])),
        receive: (c: NatsLink, a) => c.receive(Number(a[0]), Number(a[1])),
        ack: (c: NatsLink, a) => c.ack(a[0] as bigint[]),
        nak: (c: NatsLink, a) => c.nak(a[0] as bigint[], Number(a[1])),
      },
      close: (c: NatsLink) => c.close(),
    },
  },
};
