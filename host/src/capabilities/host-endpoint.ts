import type { Grants } from './grants.js';
import type { HostEndpoint } from './bridge.js';
import * as redis from './redis.js';
import type { RedisClients, RedisConnectOptions, RedisArgument } from './redis.js';
import type { SqlDatabases, Dialect, Statement, SqlDatabase } from './sql.js';
import { witError } from './wit-error.js';
import type { Redis } from 'ioredis';
import { AmqpConnection, type AmqpOutgoing } from './amqp.js';
import { MqttConnection, type MqttConnectOptions, type Qos } from './mqtt.js';
import { NatsLink, type NatsConsumerConfig, type NatsStreamConfig } from './nats.js';

/** Where an endpoint's log lines go (a pino logger, or one that forwards to the main thread). */
export interface LogSink {
  trace(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The process-wide connection registries every component's endpoint draws from. */
export interface Connectors {
  readonly redis: RedisClients;
  readonly sql: SqlDatabases;
}

/** Broker connections belong to the one handle that opened them (they carry consumer state). */
type Handle =
  | { kind: 'redis'; key: string; client: Redis } | { kind: 'sql'; key: string; db: SqlDatabase }
  | { kind: 'amqp'; conn: AmqpConnection } | { kind: 'mqtt'; conn: MqttConnection } | { kind: 'nats'; conn: NatsLink };

/**
 * The host side of one component's `mortar:host` imports: checks each connection against the component's
 * grants, keeps the handles it opened, and releases them when the component is unloaded.
 */
export class ComponentHostEndpoint implements HostEndpoint {
  readonly #handles = new Map<number, Handle>();
  #next = 1;

  constructor(
    readonly component: string,
    readonly grants: Grants,
    readonly connectors: Connectors,
    readonly logger: LogSink,
  ) {}

  log(level: string, message: string): void {
    const fn = (['trace', 'debug', 'info', 'warn', 'error'] as const).find((l) => l === level) ?? 'info';
    this.logger[fn]({ component: this.component }, message);
  }

  async dispatch(op: string, args: readonly unknown[]): Promise<unknown> {
    switch (op) {
      case 'redis.open': {
        const opts = args[0] as RedisConnectOptions;
        if (!this.grants.allows('redis', opts.address)) throw this.#denied('redis', opts.address);
        const { key, client } = this.connectors.redis.acquire(opts);
        await redis.connect(client).catch((e: unknown) => { this.connectors.redis.release(key); throw e; });
        return this.#keep({ kind: 'redis', key, client });
      }
      case 'redis.command': return redis.command(this.#redis(args[0]), args[1] as RedisArgument[]);
      case 'redis.pipeline': return redis.pipeline(this.#redis(args[0]), args[1] as RedisArgument[][]);
      case 'redis.drop': return this.#drop(args[0]);
      case 'sql.open': {
        const dialect = args[0] as Dialect;
        const address = String(args[1]);
        if (!this.grants.allows(`sql:${dialect}`, address)) throw this.#denied(`sql:${dialect}`, redact(address));
        const { key, db } = this.connectors.sql.acquire(dialect, address);
        return this.#keep({ kind: 'sql', key, db });
      }
      case 'sql.query': return this.#sql(args[0]).query(args[1] as Statement);
      case 'sql.batch': return this.#sql(args[0]).batch(args[1] as Statement[]);
      case 'sql.drop': return this.#drop(args[0]);
      case 'amqp.open': {
        const url = String(args[0]);
        if (!this.grants.allows('amqp', url)) throw this.#denied('amqp', redact(url));
        return this.#keep({ kind: 'amqp', conn: await AmqpConnection.open(url) });
      }
      case 'amqp.declare-exchange': return this.#amqp(args[0]).declareExchange(String(args[1]), args[2] as never);
      case 'amqp.declare-queue': return this.#amqp(args[0]).declareQueue(String(args[1]), args[2] as never);
      case 'amqp.bind-queue': return this.#amqp(args[0]).bindQueue(String(args[1]), String(args[2]), String(args[3]));
      case 'amqp.publish': return this.#amqp(args[0]).publish(args[1] as AmqpOutgoing[]);
      case 'amqp.consume': return this.#amqp(args[0]).consume(String(args[1]), Number(args[2]));
      case 'amqp.cancel': return this.#amqp(args[0]).cancel(String(args[1]));
      case 'amqp.receive': return this.#amqp(args[0]).receive(Number(args[1]), Number(args[2]));
      case 'amqp.ack': return this.#amqp(args[0]).ack(args[1] as bigint[]);
      case 'amqp.nack': return this.#amqp(args[0]).nack(args[1] as bigint[], Boolean(args[2]));
      case 'amqp.drop': return this.#drop(args[0]);
      case 'mqtt.connect': {
        const opts = args[0] as MqttConnectOptions;
        if (!this.grants.allows('mqtt', opts.url)) throw this.#denied('mqtt', redact(opts.url));
        return this.#keep({ kind: 'mqtt', conn: await MqttConnection.connect(opts) });
      }
      case 'mqtt.publish': return this.#mqtt(args[0]).publish(String(args[1]), args[2] as Uint8Array, args[3] as Qos, Boolean(args[4]));
      case 'mqtt.subscribe': return this.#mqtt(args[0]).subscribe(String(args[1]), args[2] as Qos);
      case 'mqtt.unsubscribe': return this.#mqtt(args[0]).unsubscribe(String(args[1]));
      case 'mqtt.receive': return this.#mqtt(args[0]).receive(Number(args[1]), Number(args[2]));
      case 'mqtt.ack': return this.#mqtt(args[0]).ack(args[1] as bigint[]);
      case 'mqtt.drop': return this.#drop(args[0]);
      case 'nats.open': {
        const servers = String(args[0]).split(',').map((s) => s.trim()).filter((s) => s !== '');
        const denied = servers.find((s) => !this.grants.allows('nats', s));
        if (servers.length === 0 || denied !== undefined) throw this.#denied('nats', redact(denied ?? String(args[0])));
        return this.#keep({ kind: 'nats', conn: await NatsLink.open(servers) });
      }
      case 'nats.ensure-stream': return this.#nats(args[0]).ensureStream(args[1] as NatsStreamConfig);
      case 'nats.stream-for-subject': return this.#nats(args[0]).streamForSubject(String(args[1]));
      case 'nats.publish': return this.#nats(args[0]).publish(String(args[1]), args[2] as Uint8Array, args[3] as Array<[string, string]>, (args[4] as string | undefined) ?? undefined);
      case 'nats.consume': return this.#nats(args[0]).consume(args[1] as NatsConsumerConfig, Number(args[2]));
      case 'nats.stop': return this.#nats(args[0]).stop(String(args[1]));
      case 'nats.receive': return this.#nats(args[0]).receive(Number(args[1]), Number(args[2]));
      case 'nats.ack': return this.#nats(args[0]).ack(args[1] as bigint[]);
      case 'nats.nak': return this.#nats(args[0]).nak(args[1] as bigint[], Number(args[2]));
      case 'nats.drop': return this.#drop(args[0]);
      default: throw witError('other', `unknown host import ${op}`);
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.#handles.keys()]) this.#drop(id);
  }

  #keep(h: Handle): number {
    const id = this.#next++;
    this.#handles.set(id, h);
    return id;
  }

  #drop(id: unknown): undefined {
    const h = this.#handles.get(id as number);
    if (!h) return undefined;
    this.#handles.delete(id as number);
    if (h.kind === 'redis') this.connectors.redis.release(h.key);
    else if (h.kind === 'sql') this.connectors.sql.release(h.key);
    else void h.conn.close();
    return undefined;
  }

  #amqp(id: unknown): AmqpConnection { return this.#broker(id, 'amqp') as AmqpConnection; }
  #mqtt(id: unknown): MqttConnection { return this.#broker(id, 'mqtt') as MqttConnection; }
  #nats(id: unknown): NatsLink { return this.#broker(id, 'nats') as NatsLink; }

  #broker(id: unknown, kind: 'amqp' | 'mqtt' | 'nats'): AmqpConnection | MqttConnection | NatsLink {
    const h = this.#handles.get(id as number);
    if (h?.kind !== kind) throw witError('other', `invalid ${kind} connection handle`);
    return h.conn;
  }

  #redis(id: unknown): Redis {
    const h = this.#handles.get(id as number);
    if (h?.kind !== 'redis') throw witError('other', 'invalid redis connection handle');
    return h.client;
  }

  #sql(id: unknown): SqlDatabase {
    const h = this.#handles.get(id as number);
    if (h?.kind !== 'sql') throw witError('other', 'invalid sql connection handle');
    return h.db;
  }

  #denied(kind: string, what: string) {
    this.logger.warn({ component: this.component, capability: kind, target: what }, `component ${this.component} may not reach ${kind} ${what}: not granted by its metadata`);
    return witError('access-denied', `${kind} ${what} is not granted to component ${this.component}`);
  }
}

/** Hides a password in a connection string before it reaches a log line or an error. */
export function redact(s: string): string {
  return s.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@').replace(/(password\s*=\s*)\S+/i, '$1***');
}
