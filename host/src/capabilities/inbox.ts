/**
 * The host-side buffer behind a broker capability's `receive`: the protocol client pushes what the broker
 * delivers, and the guest pulls it in batches, waiting a bounded time for the first item.
 */
import { Alarm } from '../alarm.js';

/** A buffer of what a broker connection received, taken in batches (see the file comment). */
export class Inbox<T> {
  #items: T[] = [];
  #head = 0;
  readonly #alarm = new Alarm();
  #failure?: Error;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
    this.#wake();
  }

  /** Makes pending and later `take`s reject with `err` (the connection is gone) until `clear`. */
  fail(err: Error): void {
    this.#failure = err;
    this.#wake();
  }

  /** Drops everything buffered (the broker takes unacknowledged deliveries back itself). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#failure = undefined;
  }

  /** Removes and returns the buffered items matching `pred` (a consumer that stopped gives its messages back). */
  remove(pred: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) (pred(this.#items[i]!) ? removed : kept).push(this.#items[i]!);
    this.#items = kept;
    this.#head = 0;
    return removed;
  }

  /** Up to `max` items; if none is buffered, waits up to `waitMs` for the first. */
  async take(max: number, waitMs: number): Promise<T[]> {
    if (this.size === 0 && waitMs > 0 && !this.#failure) {
      await this.#alarm.sleep(waitMs);
    }
    if (this.size === 0 && this.#failure) throw this.#failure;
    const n = Math.min(max, this.size);
    const out = this.#items.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  #wake(): void {
    this.#alarm.wake();
  }
}
