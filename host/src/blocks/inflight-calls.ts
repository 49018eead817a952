/**
 * The component calls a batcher has in flight, counted the way the pool serves them.
 *
 * A batcher keeps at most `limit` calls going at once so that, while they are busy, work accumulates into
 * bigger batches. A call running longer than `stalledAfterMs` no longer counts: its instance is stalled and
 * hands the calls queued behind it to a spare (see `InstancePool.stalledAfterMs`), so holding work back for
 * it would only delay that work. For a pool that relieves nothing (no spares, planned reads) the threshold is
 * `Infinity` and every call counts until it ends.
 */
export class InFlightCalls {
  /** When each call in flight was sent (`performance.now()`). */
  readonly #sent = new Set<{ readonly at: number }>();
  #recheck?: NodeJS.Timeout;

  /** `recheck`: run when a call that counted becomes stalled while the limit was reached (work may go now). */
  constructor(
    readonly limit: number,
    readonly stalledAfterMs: number,
    readonly recheck: () => void,
  ) {}

  /** Records a call sent now; the function returned records its end. */
  begin(): () => void {
    const call = { at: performance.now() };
    this.#sent.add(call);
    return () => {
      this.#sent.delete(call);
    };
  }

  /**
   * Whether another call may be sent: fewer than `limit` calls in flight are not stalled. When not, arms a
   * re-check (not holding the process open) for when the oldest of them would be stalled.
   */
  free(): boolean {
    const now = performance.now();
    let n = 0;
    let oldest = Infinity;
    for (const c of this.#sent) {
      if (now - c.at >= this.stalledAfterMs) continue;
      n++;
      oldest = Math.min(oldest, c.at);
    }
    if (n < this.limit) return true;
    if (!this.#recheck && oldest !== Infinity && this.stalledAfterMs !== Infinity) {
      this.#recheck = setTimeout(
        () => {
          this.#recheck = undefined;
          this.recheck();
        },
        oldest + this.stalledAfterMs - now + 1,
      );
      this.#recheck.unref();
    }
    return false;
  }
}
