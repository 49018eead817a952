import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { isConnectionFailure, witError, type WitError } from './wit-error.js';
import { endpointOf } from './grants.js';
import type { CapabilityHandlers } from './capability.js';

/** Mirrors `mortar:host/redis.connect-options` (guest field names, camelCase as jco lowers them). */
export interface RedisConnectOptions {
  address: string;
  username?: string;
  password?: string;
  database: number;
  tls: boolean;
  /** A client of its own (for blocking commands), not shared and not reused. */
  exclusive?: boolean;
}

export type RedisArgument = { tag: 'text'; val: string } | { tag: 'binary'; val: Uint8Array } | { tag: 'int'; val: bigint };
export type RedisValue =
  | { tag: 'nil' }
  | { tag: 'status'; val: string }
  | { tag: 'int'; val: bigint }
  | { tag: 'bulk'; val: Uint8Array }
  | { tag: 'array'; val: number }
  | { tag: 'error'; val: string };

/** ioredis is loaded on first use: a sidecar without Redis components never pays for it. */
const require = createRequire(import.meta.url);
const loadRedis = () => (require('ioredis') as typeof import('ioredis')).Redis;

/** Default time a single command may take before the host gives up (the guest sees `unavailable`). */
const COMMAND_TIMEOUT_MS = 5000;

/**
 * Shared ioredis clients, one per distinct connect-options, reference-counted across every component
 * instance that opens them. ioredis multiplexes, so one client serves all callers.
 */
export class RedisClients {
  readonly #clients = new Map<string, { client: Redis; refs: number }>();
  #exclusive = 0;

  /**
   * `commandTimeoutMs`: how long one command may take before it fails (the guest sees `unavailable`).
   * `connectionName`: what the clients call themselves on the server (`CLIENT SETNAME`, shown by `CLIENT LIST`).
   */
  constructor(
    readonly commandTimeoutMs = COMMAND_TIMEOUT_MS,
    readonly connectionName = 'mortar',
  ) {}

  acquire(opts: RedisConnectOptions): { key: string; client: Redis } {
    const key = JSON.stringify([opts.address, opts.username ?? '', opts.password ?? '', opts.database, opts.tls, opts.exclusive ? ++this.#exclusive : 0]);
    let entry = this.#clients.get(key);
    if (!entry) {
      const [host, port] = splitAddress(opts.address);
      const RedisClient = loadRedis();
      const client = new RedisClient({
        host,
        port,
        username: opts.username,
        password: opts.password,
        db: opts.database,
        tls: opts.tls ? {} : undefined,
        lazyConnect: true,
        // RESP2, whatever the client's default: components see the reply shapes Redis documents for every
        // command (RESP3 maps would reach them as flat key/value arrays of a different shape).
        protocol: 2,
        maxRetriesPerRequest: 1,
        commandTimeout: this.commandTimeoutMs,
        connectionName: this.connectionName,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      });
      client.on('error', () => {
        /* reported per command */
      });
      entry = { client, refs: 0 };
      this.#clients.set(key, entry);
    }
    entry.refs++;
    return { key, client: entry.client };
  }

  release(key: string): void {
    const entry = this.#clients.get(key);
    if (!entry) return;
    if (--entry.refs <= 0) {
      this.#clients.delete(key);
      entry.client.disconnect();
    }
  }

  async closeAll(): Promise<void> {
    for (const { client } of this.#clients.values()) client.disconnect();
    this.#clients.clear();
  }
}

/** Host and port of a Redis address, parsed as the grant check parses it (scheme, credentials, path dropped). */
function splitAddress(address: string): [string, number] {
  const hostPort = endpointOf(address, { '': 6379 });
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ''), Number(hostPort.slice(i + 1))];
}

export async function connect(client: Redis): Promise<void> {
  if (client.status === 'wait') {
    try {
      await client.connect();
    } catch (err) {
      throw witError('unavailable', (err as Error).message);
    }
  }
}

function toArg(a: RedisArgument): string | Buffer {
  switch (a.tag) {
    case 'text':
      return a.val;
    case 'binary':
      return Buffer.from(a.val.buffer, a.val.byteOffset, a.val.byteLength);
    case 'int':
      return a.val.toString();
  }
}

/** Flattens an ioredis reply into the WIT `list<value>` encoding (arrays prefixed by their length). */
export function flatten(reply: unknown, out: RedisValue[] = []): RedisValue[] {
  if (reply === null || reply === undefined) out.push({ tag: 'nil' });
  else if (typeof reply === 'number') out.push({ tag: 'int', val: BigInt(reply) });
  else if (typeof reply === 'bigint') out.push({ tag: 'int', val: reply });
  // Copy: a view would drag ioredis's whole read buffer through the structured clone to the sandbox.
  else if (Buffer.isBuffer(reply)) out.push({ tag: 'bulk', val: new Uint8Array(reply) });
  else if (typeof reply === 'string') out.push({ tag: 'status', val: reply });
  else if (reply instanceof Error) out.push({ tag: 'error', val: reply.message });
  else if (Array.isArray(reply)) {
    out.push({ tag: 'array', val: reply.length });
    for (const r of reply) flatten(r, out);
  } else out.push({ tag: 'status', val: String(reply) });
  return out;
}

function toWit(err: unknown): WitError {
  if (err && typeof err === 'object' && 'tag' in err) return err as WitError;
  const msg = err instanceof Error ? err.message : String(err);
  if (isConnectionFailure(err) || /Stream isn't writeable|enableOfflineQueue|Command timed out/.test(msg)) return witError('unavailable', msg);
  if ((err as { name?: string })?.name === 'ReplyError') return witError('reply', msg);
  return witError('other', msg);
}

export async function command(client: Redis, args: RedisArgument[]): Promise<RedisValue[]> {
  if (args.length === 0) throw witError('other', 'empty command');
  try {
    await connect(client);
    const [name, ...rest] = args.map(toArg);
    const reply = await client.callBuffer(String(name), ...rest);
    return flatten(reply);
  } catch (err) {
    throw toWit(err);
  }
}

/** What a rejected command says (an `Error`'s message, else the value as text). */
function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

export async function pipeline(client: Redis, commands: RedisArgument[][]): Promise<Array<{ tag: 'ok'; val: RedisValue[] } | { tag: 'err'; val: string }>> {
  try {
    await connect(client);
    const results = await Promise.allSettled(
      commands.map((c) => {
        const [name, ...rest] = c.map(toArg);
        return client.callBuffer(String(name), ...rest);
      }),
    );
    return results.map((r) => (r.status === 'fulfilled' ? { tag: 'ok' as const, val: flatten(r.value) } : { tag: 'err' as const, val: reasonText(r.reason) }));
  } catch (err) {
    throw toWit(err);
  }
}

/**
 * Commands issued together, sent together: every command asked for in one turn of the event loop goes out in
 * one ioredis pipeline (one socket write) instead of one write each. For a client that serves whole batches
 * at once (the planned calls of a sandbox worker), where the write per command was the largest cost. Replies
 * and errors are exactly `command`'s and `pipeline`'s. (Not ioredis's own `enableAutoPipelining`: 6.0.0
 * drops the command name of a `callBuffer` it pipelines.)
 */
export class CommandBatcher {
  #queue: Array<{ args: RedisArgument[]; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];

  constructor(readonly client: Redis) {}

  /** One command, as `command` runs it. */
  async command(args: RedisArgument[]): Promise<RedisValue[]> {
    if (args.length === 0) throw witError('other', 'empty command');
    try {
      return flatten(await this.#send(args));
    } catch (err) {
      throw toWit(err);
    }
  }

  /** Commands back to back, as `pipeline` runs them. */
  async pipeline(commands: RedisArgument[][]): Promise<Array<{ tag: 'ok'; val: RedisValue[] } | { tag: 'err'; val: string }>> {
    try {
      await connect(this.client);
    } catch (err) {
      throw toWit(err);
    }
    const results = await Promise.allSettled(commands.map((c) => (c.length === 0 ? Promise.reject(new Error('empty command')) : this.#send(c))));
    // The server went away (not a reply error): the pipeline as a whole is unavailable, as `command` says.
    for (const r of results) if (r.status === 'rejected' && toWit(r.reason).tag === 'unavailable') throw toWit(r.reason);
    return results.map((r) => (r.status === 'fulfilled' ? { tag: 'ok' as const, val: flatten(r.value) } : { tag: 'err' as const, val: reasonText(r.reason) }));
  }

  #send(args: RedisArgument[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#queue.push({ args, resolve, reject }) === 1) queueMicrotask(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const queued = this.#queue;
    this.#queue = [];
    try {
      await connect(this.client);
      const p = this.client.pipeline();
      // A command that cannot be written fails alone; the others of the flush go out.
      const sent = queued.filter((q) => {
        try {
          const [name, ...rest] = q.args.map(toArg);
          p.callBuffer(String(name), ...rest);
          return true;
        } catch (err) {
          q.reject(err);
          return false;
        }
      });
      if (sent.length === 0) return;
      const results = (await p.exec()) ?? [];
      sent.forEach((q, i) => {
        const [err, value] = results[i] ?? [new Error('no reply')];
        if (err) q.reject(err);
        else q.resolve(value);
      });
    } catch (err) {
      for (const q of queued) q.reject(err);
    }
  }
}

/** A Redis handle: the shared (or exclusive) client and its key in `RedisClients`. */
interface RedisHandle {
  key: string;
  client: Redis;
}

/** `mortar:host/redis` on the host: a connection to a granted address. */
export const redisCapability: CapabilityHandlers<'redis'> = {
  functions: {},
  resources: {
    connection: {
      statics: {
        open: {
          grant: (args) => [{ kind: 'redis', value: (args[0] as RedisConnectOptions).address }],
          async run(ctx, args): Promise<RedisHandle> {
            const { key, client } = ctx.connectors.redis.acquire(args[0] as RedisConnectOptions);
            await connect(client).catch((e: unknown) => {
              ctx.connectors.redis.release(key);
              throw e;
            });
            return { key, client };
          },
        },
      },
      methods: {
        command: (h: RedisHandle, args) => command(h.client, args[0] as RedisArgument[]),
        pipeline: (h: RedisHandle, args) => pipeline(h.client, args[0] as RedisArgument[][]),
      },
      close: (h: RedisHandle, ctx) => ctx.connectors.redis.release(h.key),
    },
  },
};
