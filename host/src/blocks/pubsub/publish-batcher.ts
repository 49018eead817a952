/**
 * Coalesces concurrent publishes to one component into `bulk-publish` calls.
 *
 * Every call into a component is a hop to its sandbox thread and, for a broker, at least one round trip to
 * the broker; a component instance serves one call at a time. Under load, publishes that arrive while the
 * component's instances are busy wait in a queue, and the next free instance takes the whole queue as one
 * `bulk-publish` (one hop, one pipelined write to the broker), as a client library corks its writes. At low
 * load nothing waits: a publish with an instance free goes at once, alone, as `publish`.
 *
 * Each waiting publish still gets its own outcome: `bulk-publish` reports failures by position. Used only
 * for components that declare `BULK_PUBLISH` (a native batch); for the others a batch would be published
 * one by one inside the component, serially, which is slower than instances in parallel.
 *
 * Each publish keeps its own deadline, counting its wait in the queue: a batch is sent with the time its
 * most pressed publish has left.
 */
import { ComponentCallError } from '../../components/sandbox/pool.js';
import { InFlightCalls } from '../inflight-calls.js';
import type { BrokerClient, BulkFailure, PublishRequest } from './broker-client.js';

/** The WIT `publish-request`, as the host passes it. */
export type WitPublishRequest = PublishRequest;

interface Waiting {
  readonly req: WitPublishRequest;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Most publishes in one `bulk-publish` call. */
const MAX_BATCH = 256;
/** Most bytes of message data in one `bulk-publish` call (one structured clone to the sandbox). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export class PublishBatcher {
  readonly #broker: BrokerClient;
  readonly #queue: Waiting[] = [];
  /** Up to `capacity` calls at once; see `InFlightCalls` for stalled ones. */
  readonly #inflight: InFlightCalls;

  constructor(broker: BrokerClient) {
    this.#broker = broker;
    this.#inflight = new InFlightCalls(broker.capacity, broker.stalledAfterMs, () => this.#drain());
  }

  /**
   * Resolves once the broker accepted `req`; rejects as `publish` would (a `ComponentCallError`, ...).
   * `timeoutMs`: its deadline from now (default: the pool's, `callTimeout()`).
   */
  publish(req: WitPublishRequest, timeoutMs = this.#broker.callTimeout()): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ req, deadline: performance.now() + timeoutMs, resolve, reject });
      this.#drain();
    });
  }

  /** Sends queued publishes while an instance is free. */
  #drain(): void {
    while (this.#queue.length > 0 && this.#inflight.free()) {
      let n = 0;
      let bytes = 0;
      while (n < this.#queue.length && n < MAX_BATCH && (n === 0 || bytes + this.#queue[n]!.req.data.byteLength <= MAX_BATCH_BYTES)) {
        bytes += this.#queue[n]!.req.data.byteLength;
        n++;
      }
      const batch = this.#queue.splice(0, n);
      const end = this.#inflight.begin();
      void this.#send(batch).finally(() => {
        end();
        this.#drain();
      });
    }
  }

  async #send(batch: Waiting[]): Promise<void> {
    let deadline = Infinity;
    for (const w of batch) deadline = Math.min(deadline, w.deadline);
    // At least 1 ms: a publish whose time is up is answered by the pool's deadline, like any call.
    const timeoutMs = Math.max(1, deadline - performance.now());
    if (batch.length === 1) {
      const [only] = batch as [Waiting];
      try {
        await this.#broker.publish(only.req, timeoutMs);
        only.resolve();
      } catch (err) {
        only.reject(err);
      }
      return;
    }
    let failures: BulkFailure[];
    try {
      failures = await this.#broker.bulkPublish(
        batch.map((w) => w.req),
        timeoutMs,
      );
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const failed = new Map(failures.map((f) => [f.index, f.error]));
    batch.forEach((w, i) => {
      const error = failed.get(i);
      if (error === undefined) w.resolve();
      else w.reject(new ComponentCallError({ tag: 'other', val: error }));
    });
  }
}
