/**
 * Coalesces concurrent single-key reads of one store into one `bulk-get` component call.
 *
 * Every call into a sandboxed component costs thread hand-offs (and, for a networked store, a bridge round
 * trip); under load those dominate. Reads that arrive in the same event-loop turn with the same consistency
 * and metadata are sent as one bulk-get (one hand-off, one Redis pipeline or one SQL `IN` query) and the
 * results are handed back one by one. A lone read still goes out as a plain `get`. Same idea as ioredis's
 * auto-pipelining or DataLoader.
 *
 * Each read keeps its own deadline: a batch is sent with the time its most pressed read has left, so a read
 * that waited for a free slot is not given a fresh budget.
 */
import { InFlightCalls } from '../inflight-calls.js';
import type { GetRequest } from './store-client.js';

/** One read: the WIT `get-request`. */
export type BatchedRead = GetRequest;

interface Waiter<Item> {
  read: BatchedRead;
  timeoutMs?: number;
  deadline: number;
  resolve: (v: Item | undefined) => void;
  reject: (e: unknown) => void;
}

/**
 * The reads of one store (`StoreClient.get` and `.bulkGet`); `Item` is what a read finds. `timeoutMs`: how
 * long the call may take (undefined: the backend's default).
 */
export interface ReadBackend<Item> {
  get(read: BatchedRead, timeoutMs?: number): Promise<Item | undefined>;
  /** One result per read, in order; `error` set for a read that failed on its own. */
  bulkGet(reads: BatchedRead[], timeoutMs?: number): Promise<Array<{ item?: Item; error?: string }>>;
}

/** What is left of `deadline` (at least 1 ms, so the backend's own deadline answers it), or undefined. */
function left(deadline: number): number | undefined {
  return deadline === Infinity ? undefined : Math.max(1, deadline - performance.now());
}

/** Most reads sent in one bulk-get; larger groups are split. */
const MAX_BATCH = 64;

export class GetBatcher<Item> {
  #pending = new Map<string, Waiter<Item>[]>();
  #scheduled = false;
  readonly #inflight: InFlightCalls;

  /**
   * `maxInFlight`: how many component calls this batcher keeps going at once (the pool's read concurrency). While
   * they are all busy, reads accumulate, so batches grow exactly when the store is saturated.
   * `isolate(err)`: whether a failed batch should be retried read by read (the failure may be one read's).
   * `stalledAfterMs`: a call in flight this long no longer counts against `maxInFlight` (its instance hands
   * its queue to another; see `InstancePool.stalledAfterMs`), so the reads behind it are sent. `Infinity` for
   * a pool that relieves nothing.
   */
  constructor(
    readonly backend: ReadBackend<Item>,
    readonly maxInFlight: number,
    readonly isolate: (err: unknown) => boolean = () => false,
    readonly stalledAfterMs = Infinity,
  ) {
    this.#inflight = new InFlightCalls(maxInFlight, stalledAfterMs, () => this.#flush());
  }

  /** Reads `read`; `timeoutMs` is its deadline from now, counting the wait for a batch (undefined: none of its own). */
  get(read: BatchedRead, timeoutMs?: number): Promise<Item | undefined> {
    return new Promise((resolve, reject) => {
      const group = `${read.consistency}\u0000${JSON.stringify(read.metadata)}`;
      let list = this.#pending.get(group);
      if (!list) this.#pending.set(group, (list = []));
      list.push({ read, timeoutMs, deadline: timeoutMs === undefined ? Infinity : performance.now() + timeoutMs, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    for (const [group, list] of this.#pending) {
      while (list.length > 0 && this.#inflight.free()) {
        const end = this.#inflight.begin();
        void this.#send(list.splice(0, MAX_BATCH)).finally(() => {
          end();
          this.#flush();
        });
      }
      if (list.length === 0) this.#pending.delete(group);
      if (list.length > 0) return;
    }
  }

  async #send(batch: Waiter<Item>[]): Promise<void> {
    if (batch.length === 1) {
      const [w] = batch;
      await this.backend.get(w!.read, left(w!.deadline)).then(w!.resolve, w!.reject);
      return;
    }
    let deadline = Infinity;
    for (const w of batch) deadline = Math.min(deadline, w.deadline);
    try {
      const results = await this.backend.bulkGet(
        batch.map((w) => w.read),
        left(deadline),
      );
      batch.forEach((w, i) => {
        const r = results[i];
        if (r?.error) w.reject(new BulkItemError(r.error));
        else w.resolve(r?.item);
      });
    } catch (err) {
      if (!this.isolate(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // The batch was lost to a fault that one read may have caused (a trap, a key the backend refuses):
      // retry each read alone, so only the read that causes it fails. Reads are safe to repeat, and a read
      // is not charged for the batch's fault: it gets its whole budget again.
      await Promise.all(batch.map((w) => this.backend.get(w.read, w.timeoutMs).then(w.resolve, w.reject)));
    }
  }
}

/** A read that failed inside a bulk-get (the component reported an error for that key alone). */
export class BulkItemError extends Error {
  override name = 'BulkItemError';
}
