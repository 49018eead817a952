/**
 * Planned reads (`mortar:component/read-plan`), served inside a sandbox worker.
 *
 * A store that exports `read-plan` describes the I/O of a read (`plan`) instead of performing it through a
 * blocking host import; the worker performs that I/O itself, asynchronously, on a connection of its own,
 * then hands the reply to the store (`finish`). Compared with `bulk-get` through the bridge:
 * - the instance is not blocked during the round trip, so several batches of reads overlap in one instance;
 * - the request goes straight from this thread to the server: no hand-off to the capability thread and back.
 *
 * Authority is unchanged: the worker only ever connects with options the capabilities have already
 * accepted (a `redis.open` that succeeded through the bridge, after its grant check).
 */
import { command, RedisClients, type RedisArgument, type RedisConnectOptions, type RedisValue } from '../../capabilities/redis.js';
import type { Redis } from 'ioredis';
import { deadlineMargin, sharedClock, type ResultMessage } from './protocol.js';

/** `mortar:component/read-plan.read-io`. */
export type ReadIo = { tag: 'redis-command'; val: RedisArgument[] };

/** `result<list<value>, mortar:host/redis.error>` as jco lowers it. */
export type ReadReply = { tag: 'ok'; val: RedisValue[] } | { tag: 'err'; val: { tag: string; val?: unknown } };

/** `mortar:component/read-plan.read-outcome`. */
export type ReadOutcome<Item> = { tag: 'found'; val: Item } | { tag: 'missing' } | { tag: 'failed'; val: string };

/** The I/O side of planned reads in one worker. Its connections close with the worker's thread. */
export class PlannedReads {
  readonly #clients: RedisClients;
  readonly #commandTimeoutMs: number;
  #redisOptions?: RedisConnectOptions;
  #redis?: Redis;

  /**
   * `commandTimeoutMs`: how long the server may take to answer before the read fails as `unavailable`. A
   * read also fails so `deadlineMargin` before its deadline if the server has not answered.
   */
  constructor(commandTimeoutMs: number) {
    this.#commandTimeoutMs = commandTimeoutMs;
    this.#clients = new RedisClients(commandTimeoutMs, 'mortar-planned-reads');
  }

  /** Records a Redis connection the instance opened through the bridge (so its grant check passed). The
   *  first non-exclusive one is where `redis-command` plans run. */
  redisOpened(options: RedisConnectOptions): void {
    if (!options.exclusive && !this.#redisOptions) this.#redisOptions = options;
  }

  /** Whether `io` can be performed here; if not, the read goes through `bulk-get`. */
  canRun(io: ReadIo): boolean {
    return io.tag === 'redis-command' && this.#redisOptions !== undefined;
  }

  /**
   * Performs the I/O of a plan, by `deadline` (`sharedClock`): a server that has not answered by then (a
   * frozen one, say) fails the read as `unavailable`. Never rejects: failures are the `err` reply the store
   * decodes.
   */
  async run(io: ReadIo, deadline = Infinity): Promise<ReadReply> {
    const left = deadline - sharedClock();
    const budget = Math.floor(left - deadlineMargin(left));
    if (budget <= 0) return { tag: 'err', val: { tag: 'unavailable', val: "redis read not attempted: the call's deadline has passed" } };
    let timer: NodeJS.Timeout | undefined;
    try {
      this.#redis ??= this.#clients.acquire(this.#redisOptions!).client;
      const reply = command(this.#redis, io.val);
      // The client's own command timeout (`unavailable` too) fires first: no timer of our own per read.
      if (budget >= this.#commandTimeoutMs) return { tag: 'ok', val: await reply };
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject({ tag: 'unavailable', val: `redis read timed out after ${budget}ms` }), budget);
      });
      return { tag: 'ok', val: await Promise.race([reply, late]) };
    } catch (err) {
      return { tag: 'err', val: err as { tag: string; val?: unknown } };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The reply to call `id` from a store's outcomes, exactly as its single read (`get`, one request) or its
 * batch read (`bulk-get`, `batch`: one entry per key of `keys`) would have answered it, so the caller cannot
 * tell which path served it.
 */
export function asCallResult(id: number, batch: boolean, keys: readonly string[], outcomes: ReadonlyArray<ReadOutcome<unknown>>): ResultMessage {
  const error = (val: string): ResultMessage => ({ id, ok: false, kind: 'error', error: { tag: 'other', val } });
  if (outcomes.length !== keys.length) return error(`read-plan.finish returned ${outcomes.length} outcomes for ${keys.length} reads`);
  if (!batch) {
    const [o] = outcomes;
    if (o!.tag === 'failed') return error(o!.val);
    return { id, ok: true, value: o!.tag === 'found' ? o!.val : undefined };
  }
  return {
    id,
    ok: true,
    value: outcomes.map((o, i) => ({
      key: keys[i]!,
      item: o.tag === 'found' ? o.val : undefined,
      error: o.tag === 'failed' ? o.val : undefined,
    })),
  };
}
