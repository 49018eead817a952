/**
 * The worker's end of the bridge (see `capabilities/bridge.ts`), for component and workload workers alike: a
 * host call posted on the bridge port, a blocking wait on the reply word, then the reply taken off the port.
 */
import type { MessagePort } from 'node:worker_threads';
import { receiveMessageOnPort } from 'node:worker_threads';
import type { BridgeRequest, BridgeResponse } from '../../capabilities/bridge.js';

export class BridgeClient {
  /** Word 0: the sequence number of the latest reply posted on the port. */
  readonly #word: Int32Array;
  #seq = 0;
  /** Run before the next call only (a worker releases a caller spinning for its reply). */
  beforeCall?: () => void;

  /** `budget()`: how long the next call may wait, in ms (the import timeout, capped by the call's deadline). */
  constructor(
    private readonly port: MessagePort,
    reply: SharedArrayBuffer,
    private readonly budget: () => number,
  ) {
    this.#word = new Int32Array(reply, 0, 1);
  }

  /** Performs host operation `op` and blocks until it answers. Throws an Error whose `payload` is the `{tag, val}`. */
  perform(op: string, args: unknown[]): unknown {
    this.beforeCall?.();
    this.beforeCall = undefined;
    const budget = Math.floor(this.budget());
    if (budget <= 0) throw failure('unavailable', `host call ${op} not attempted: the call's deadline has passed`);
    const mine = ++this.#seq;
    this.port.postMessage({ seq: mine, op, args, budget } satisfies BridgeRequest);
    const deadline = performance.now() + budget;
    for (;;) {
      const current = Atomics.load(this.#word, 0);
      if (current === mine) break;
      const left = deadline - performance.now();
      if (left <= 0) throw failure('unavailable', `host call ${op} timed out after ${budget}ms`);
      Atomics.wait(this.#word, 0, current, left);
    }
    let res: BridgeResponse;
    for (;;) {
      const msg = receiveMessageOnPort(this.port);
      if (!msg) throw failure('other', `host call ${op}: response lost`);
      res = msg.message as BridgeResponse;
      if (res.seq === mine) break;
      // else: a late answer to a call that already timed out
    }
    if (res.ok) return res.value;
    throw Object.assign(new Error(typeof res.error.val === 'string' ? res.error.val : res.error.tag), { payload: res.error });
  }
}

function failure(tag: string, val: string): Error {
  return Object.assign(new Error(val), { payload: { tag, val } });
}
