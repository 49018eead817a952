/**
 * The bridge: how a sandboxed instance's host imports reach the capabilities.
 *
 * Each instance has a `bridge` MessagePort. The guest's imports are synchronous, so the instance posts a
 * `BridgeRequest` and blocks in `Atomics.wait` on a shared reply word; whoever serves the bridge performs the
 * I/O, posts the `BridgeResponse` on the port and sets the word to the request's sequence number. The instance
 * takes the reply with `receiveMessageOnPort` (its end of the port is never started, so nothing else reads
 * it): Node's structured clone costs about half of a `v8.serialize` into shared memory and the
 * `v8.deserialize` out of it, and has no size limit.
 *
 * The bridge is served where the capabilities live: on a thread of their own (`CapabilityThread`), off the
 * HTTP thread.
 */
import type { MessagePort } from 'node:worker_threads';
import { eachMessage, PortBatch } from './port-batch.js';

export interface BridgeRequest {
  readonly seq: number;
  readonly op: string;
  readonly args: readonly unknown[];
  /** How long the instance waits for the answer (ms from sending): the host gives up before it does. */
  readonly budget: number;
}

/** `error` is the WIT error value the import returns (`{tag, val}`), thrown into the guest as a result `err`. */
export type BridgeResponse =
  | { readonly seq: number; readonly ok: true; readonly value: unknown }
  | { readonly seq: number; readonly ok: false; readonly error: { tag: string; val?: unknown } };

/** A fire-and-forget message from the instance (logging). */
export interface BridgeLog {
  readonly seq: 0;
  readonly op: 'log';
  readonly args: readonly [level: string, message: string];
}

/** What performs one component's host imports. */
export interface HostEndpoint {
  /**
   * Performs import `op` (`redis.connection.command`, `http.send`: see `opName`) for a caller that waits
   * `budget` ms from now. Rejects with `{tag, val}` WIT errors.
   */
  dispatch(op: string, args: readonly unknown[], budget: number): Promise<unknown>;
  /** A log line from the guest. */
  log(level: string, message: string): void;
  /** Releases everything the component opened. */
  close(): Promise<void>;
}

/** What the sandbox needs from the host for one component: somewhere to plug each instance's bridge in. */
export interface BridgeHost {
  /** Serves one instance's bridge (the port is transferred when the capabilities run on another thread). */
  attach(bridge: MessagePort, reply: SharedArrayBuffer): void;
  /** Releases everything the component opened. */
  close(): Promise<void>;
}

/** Serves one instance's bridge with `endpoint`, until the instance goes away (the port closes). */
export function serveBridge(bridge: MessagePort, replyBuffer: SharedArrayBuffer, endpoint: HostEndpoint): void {
  const word = new Int32Array(replyBuffer, 0, 1);
  let lastSeq = 0;
  serve(bridge, endpoint, (res) => {
    if (res.seq < lastSeq) return; // the instance gave up on this call
    lastSeq = res.seq;
    // On the port before the word moves: the instance takes it off the port as soon as it sees the word.
    bridge.postMessage(res);
    Atomics.store(word, 0, res.seq);
    Atomics.notify(word, 0);
  });
}

/**
 * Serves the bridge of an async workload worker (`components/sandbox/async-bridge-client.ts`) with `endpoint`:
 * its calls are in flight together and answered as each completes, in any order, by message alone (the
 * worker does not block: nothing waits on a word).
 */
export function serveAsyncBridge(bridge: MessagePort, endpoint: HostEndpoint): void {
  // Its calls come in batches (`PortBatch`), and the answers of one turn go back as one.
  const answers = new PortBatch<BridgeResponse>(bridge);
  serve(bridge, endpoint, (res) => answers.post(res));
}

/** Performs each request arriving on `bridge` with `endpoint` and hands its response to `answer`, until the port closes. */
function serve(bridge: MessagePort, endpoint: HostEndpoint, answer: (res: BridgeResponse) => void): void {
  let closed = false;
  bridge.on('close', () => {
    closed = true;
  });
  const reply = (res: BridgeResponse) => {
    if (!closed) answer(res); // else: the instance is gone
  };
  bridge.on('message', (msg: BridgeRequest | BridgeLog | Array<BridgeRequest | BridgeLog>) => eachMessage(msg, perform));
  function perform(req: BridgeRequest | BridgeLog): void {
    if (req.op === 'log') {
      endpoint.log(String(req.args[0]), String(req.args[1]));
      return;
    }
    endpoint.dispatch(req.op, req.args, (req as BridgeRequest).budget).then(
      (value) => reply({ seq: req.seq, ok: true, value }),
      (error: unknown) => reply({ seq: req.seq, ok: false, error: toWitError(error) }),
    );
  }
}

/** Turns whatever a capability rejected with into a WIT error value. */
function toWitError(error: unknown): { tag: string; val?: unknown } {
  if (error && typeof error === 'object' && 'tag' in error) return error as { tag: string; val?: unknown };
  return { tag: 'other', val: error instanceof Error ? error.message : String(error) };
}
