/**
 * Messages to one port, posted together: what is posted in one turn of this thread's event loop goes at its
 * end as one message (an array when there are several). Under load that is one hand-off for a batch instead
 * of one each: each message costs a structured clone, a wake-up of the receiving thread and an event on its
 * side. So only what may wait for the turn's end goes this way; a message that must go even if the thread
 * then stays busy (a finished request's answer, a log line) is posted at once. The receiver takes either
 * shape with `eachMessage`. Used where many calls are in flight on one port at once: a component
 * instance's calls (`components/sandbox/pool.ts`), the async workload pool's requests, its workers' host calls
 * and their answers (`serveAsyncBridge`).
 */

/** Where a batch goes: a `MessagePort`, a `Worker` or `parentPort`. */
interface Target {
  postMessage(value: unknown): void;
}

export class PortBatch<T extends object> {
  #out: T[] = [];

  constructor(private readonly target: Target) {}

  /** Queues `msg`; the batch is posted once this turn of the event loop has run its callbacks. */
  post(msg: T): void {
    if (this.#out.push(msg) === 1) setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    const out = this.#out;
    this.#out = [];
    this.target.postMessage(out.length === 1 ? out[0] : out);
  };
}

/** Calls `each` with the message, or with each message of a batch, in the order posted. */
export function eachMessage<T extends object>(msg: T | T[], each: (m: T) => void): void {
  if (Array.isArray(msg)) for (const m of msg) each(m);
  else each(msg);
}
