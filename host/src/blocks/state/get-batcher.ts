/**
 * Coalesces concurrent single-key reads of one store into one `bulk-get` component call.
 *
 * Every call into a sandboxed component costs thread hand-offs (and, for a networked store, a bridge round
 * trip); under load those dominate. Reads that arrive in the same event-loop turn with the same consistency
 * and metadata are sent as one bulk-get (one hand-off, one Redis pipeline or one SQL `IN` query) and the
 * results are handed back one by one. A lone read still goes out as a plain `get`. Same idea as ioredis's
 * auto-pipelining or DataLoader.
 */
export interface BatchedRead { key: string; consistency: string; metadata: Array<[string, string]> }

type Item = unknown;
interface Waiter { read: BatchedRead; resolve: (v: Item | undefined) => void; reject: (e: unknown) => void }

export interface ReadBackend {
  get(read: BatchedRead): Promise<Item | undefined>;
  /** One result per read, in order; `error` set for a read that failed on its own. */
  bulkGet(reads: BatchedRead[]): Promise<Array<{ item?: Item; error?: string }>>;
}

/** Most reads sent in one bulk-get; larger groups are split. */
const MAX_BATCH = 64;

export class GetBatcher {
  #pending = new Map<string, Waiter[]>();
  #scheduled = false;
  #inflight = 0;

  /**
   * `maxInFlight`: how many component calls this batcher keeps going at once (the pool's read concurrency). While
   * they are all busy, reads accumulate, so batches grow exactly when the store is saturated.
   * `isolate(err)`: whether a failed batch should be retried read by read (the failure may be one read's).
   */
  constructor(readonly backend: ReadBackend, readonly maxInFlight: number, readonly isolate: (err: unknown) => boolean = () => false) {}

  get(read: BatchedRead): Promise<Item | undefined> {
    return new Promise((resolve, reject) => {
      const group = `${read.consistency}\u0000${JSON.stringify(read.metadata)}`;
      let list = this.#pending.get(group);
      if (!list) this.#pending.set(group, (list = []));
      list.push({ read, resolve, reject });
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
      while (list.length > 0 && this.#inflight < this.maxInFlight) {
        this.#inflight++;
        void this.#send(list.splice(0, MAX_BATCH)).finally(() => {
          this.#inflight--;
          this.#flush();
        });
      }
      if (list.length === 0) this.#pending.delete(group);
      if (this.#inflight >= this.maxInFlight) return;
    }
  }

  async #send(batch: Waiter[]): Promise<void> {
    if (batch.length === 1) {
      const [w] = batch;
      await this.backend.get(w!.read).then(w!.resolve, w!.reject);
      return;
    }
    try {
      const results = await this.backend.bulkGet(batch.map((w) => w.read));
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
      // The batch was lost to a fault that one read may have caused (a trap, a timeout): retry each read
      // alone, so only the read that causes it fails. Reads are safe to repeat.
      await Promise.all(batch.map((w) => this.backend.get(w.read).then(w.resolve, w.reject)));
    }
  }
}

/** A read that failed inside a bulk-get (the component reported an error for that key alone). */
export class BulkItemError extends Error {
  override name = 'BulkItemError';
}
