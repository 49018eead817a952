/**
 * The async workload worker's end of its bridge (`capabilities/bridge.ts` `serveAsyncBridge`): a host call
 * posted on the port answers a promise, settled when the host's answer arrives on the port, so many calls
 * (one per suspended guest) are in flight at once. A call that outlives its budget rejects as `unavailable`;
 * its late answer is dropped.
 */
import type { MessagePort } from 'node:worker_threads';
import type { BridgeLog, BridgeRequest, BridgeResponse } from '../../capabilities/bridge.js';
import { eachMessage, PortBatch } from '../../capabilities/port-batch.js';

interface Pending {
  readonly op: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class AsyncBridgeClient {
  #seq = 0;
  readonly #pending = new Map<number, Pending>();
  /** Calls, posted together per turn of the event loop (the host answers in batches too). */
  readonly #out: PortBatch<BridgeRequest>;

  constructor(private readonly port: MessagePort) {
    this.#out = new PortBatch(port);
    port.on('message', (msg: BridgeResponse | BridgeResponse[]) => eachMessage(msg, (res) => this.#settle(res)));
    // Not kept alive by the port: the worker lives as long as its request port.
    port.unref();
  }

  #settle(res: BridgeResponse): void {
    const p = this.#pending.get(res.seq);
    if (!p) return; // it timed out
    this.#pending.delete(res.seq);
    clearTimeout(p.timer);
    if (res.ok) p.resolve(res.value);
    else p.reject(Object.assign(new Error(typeof res.error.val === 'string' ? res.error.val : res.error.tag), { payload: res.error }));
  }

  /** Performs host operation `op`, waiting at most `budget` ms. Rejects with an Error whose `payload` is the `{tag, val}`. */
  perform(op: string, args: unknown[], budget: number): Promise<unknown> {
    const ms = Math.floor(budget);
    if (ms <= 0) return Promise.reject(failure('unavailable', `host call ${op} not attempted: the request's deadline has passed`));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(failure('unavailable', `host call ${op} timed out after ${ms}ms`));
      }, ms);
      this.#pending.set(seq, { op, resolve, reject, timer });
      this.#out.post({ seq, op, args, budget: ms });
    });
  }

  /** A log line (fire and forget). */
  log(level: string, line: string): void {
    // At once: a guest that then computes until it is stopped would keep it from ever going.
    this.port.postMessage({ seq: 0, op: 'log', args: [level, line] } satisfies BridgeLog);
  }
}

function failure(tag: string, val: string): Error {
  return Object.assign(new Error(val), { payload: { tag, val } });
}
