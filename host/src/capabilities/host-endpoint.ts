import type { Logger } from '../logger.js';
import type { Grants } from './grants.js';
import * as redis from './redis.js';
import type { RedisClients, RedisConnectOptions, RedisArgument } from './redis.js';
import type { SqlDatabases, Dialect, Statement, SqlDatabase } from './sql.js';
import { witError } from './wit-error.js';
import type { Redis } from 'ioredis';

/** What the main thread does for one component's host imports; the sandbox forwards every import here. */
export interface HostEndpoint {
  /** Performs import `op` (`redis.command`, `sql.batch`, ...). Rejects with `{tag, val}` WIT errors. */
  dispatch(op: string, args: readonly unknown[]): Promise<unknown>;
  /** A log line from the guest. */
  log(level: string, message: string): void;
  /** Releases everything the component opened. */
  close(): Promise<void>;
}

/** The process-wide connection registries every component's endpoint draws from. */
export interface Connectors {
  readonly redis: RedisClients;
  readonly sql: SqlDatabases;
}

type Handle = { kind: 'redis'; key: string; client: Redis } | { kind: 'sql'; key: string; db: SqlDatabase };

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
    readonly logger: Logger,
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
    else this.connectors.sql.release(h.key);
    return undefined;
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
