/**
 * Planned reads (`mortar:component/read-plan`), served inside a sandbox worker: the store plans the I/O of a
 * read (`plan`), the worker performs it without blocking the instance (`planned-io.ts`), and the store decodes
 * the reply (`finish`). This file holds the read protocol's shapes and how its outcomes become the answer
 * `get` or `bulk-get` would have given.
 */
import type { RedisArgument, RedisValue } from '../../capabilities/redis.js';
import type { ResultMessage } from './protocol.js';

/** `mortar:component/read-plan.read-io`. */
export type ReadIo = { tag: 'redis-command'; val: RedisArgument[] };

/** `result<list<value>, mortar:host/redis.error>` as jco lowers it. */
export type ReadReply = { tag: 'ok'; val: RedisValue[] } | { tag: 'err'; val: { tag: string; val?: unknown } };

/** `mortar:component/read-plan.read-outcome`. */
export type ReadOutcome<Item> = { tag: 'found'; val: Item } | { tag: 'missing' } | { tag: 'failed'; val: string };

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
