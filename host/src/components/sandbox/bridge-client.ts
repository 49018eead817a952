/**
 * The worker's end of the bridge (see `capabilities/bridge.ts`) for a workload worker: a host call posted on
 * the bridge port, then a blocking wait on the shared reply area, as `worker.ts`'s `bridgeCall` does for
 * components.
 */
import type { MessagePort } from 'node:worker_threads';
import { receiveMessageOnPort } from 'node:worker_threads';
import type { BridgeRequest, BridgeResponse } from '../../capabilities/bridge.js';
import { areaOf, readArea, type SharedArea } from '../../capabilities/shared-area.js';

export class BridgeClient {
  readonly #reply: SharedArea;
  #seq = 0;
  /** Run before each call (the worker releases a caller spinning for its reply). */
  beforeCall?: () => void;

  /** `budget()`: how long the next call may wait, in ms (the import timeout, capped by the request's deadline). */
  constructor(
    private readonly port: MessagePort,
    reply: SharedArrayBuffer,
    private readonly budget: () => number,
  ) {
    this.#reply = areaOf(reply);
  }

  /** Performs host operation `op` and blocks until it answers. Throws an Error whose `payload` is the `{tag, val}`. */
  perform(op: string, args: unknown[]): unknown {
    this.beforeCall?.();
    this.beforeCall = undefined;
    const budget = Math.floor(this.budget());
    if (budget <= 0) throw failure('unavailable', `host call ${op} not attempted: the request's deadline has passed`);
    const mine = ++this.#seq;
    this.port.postMessage({ seq: mine, op, args, budget } satisfies BridgeRequest);
    const deadline = performance.now() + budget;
    for (;;) {
      const current = Atomics.load(this.#reply.words, 0);
      if (current === mine) break;
      const left = deadline - performance.now();
      if (left <= 0) throw failure('unavailable', `host call ${op} timed out after ${budget}ms`);
      Atomics.wait(this.#reply.words, 0, current, left);
    }
    let res: BridgeResponse | undefined;
    if (Atomics.load(this.#reply.words, 1) >= 0) res = readArea(this.#reply) as BridgeResponse;
    else {
      for (;;) {
        const msg = receiveMessageOnPort(this.port);
        if (!msg) throw failure('other', `host call ${op}: response lost`);
        if ((msg.message as BridgeResponse).seq === mine) {
          res = msg.message as BridgeResponse;
          break;
        }
      }
    }
    if (res.ok) return res.value;
    throw Object.assign(new Error(typeof res.error.val === 'string' ? res.error.val : res.error.tag), { payload: res.error });
  }
}

function failure(tag: string, val: string): Error {
  return Object.assign(new Error(val), { payload: { tag, val } });
}
