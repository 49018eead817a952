/**
 * Messages between the host (main thread) and a sandbox worker.
 *
 * Two channels per worker:
 * - the worker's own port carries calls into the component (`CallMessage` -> `ResultMessage`), asynchronously;
 * - a dedicated `bridge` port carries host imports out of the component to the capabilities (see
 *   `capabilities/bridge.ts`), which serve it on their own thread.
 */

import type { MessagePort } from 'node:worker_threads';
import type { PlannedInvoke, PlannedRead } from '../../building-blocks.js';
import type { GrantSource } from './planned-io.js';

/** Data a worker starts from. */
export interface WorkerInit {
  /** Component name, for logs. */
  readonly name: string;
  /** Folder of the transpiled artifact (`component.js` + core modules). */
  readonly dir: string;
  /** The artifact's core modules, compiled once (with the memory cap applied) and shared by instances. */
  readonly modules: Readonly<Record<string, WebAssembly.Module>>;
  /** How long a host import may block the guest before it fails with `unavailable`. */
  readonly importTimeoutMs: number;
  /** The bridge's reply word (Int32): the sequence number of the latest reply posted on `bridge`. */
  readonly reply: SharedArrayBuffer;
  readonly bridge: MessagePort;
  /** The control words (`CTL_*`, Int32): how the host wakes the instance, withdraws calls it has not
   *  started, and sees which call it is running. */
  readonly calls: SharedArrayBuffer;
  /** The state of a reply to a call whose caller spins for it (one Int32 word, a `RESULT_*` state). */
  readonly result: SharedArrayBuffer;
  /**
   * Where that reply goes: a message the spinning caller takes with `receiveMessageOnPort` once the word says
   * `RESULT_DONE`. Node's structured clone costs about half of a `v8.serialize` into shared memory and the
   * `v8.deserialize` out of it, on both sides (measured in `bench/RESULTS.md`), and it has no size limit.
   */
  readonly resultPort: MessagePort;
  /** The process's spinner word (`call-wait.ts`), shared by every instance of every pool; none: no instance spins. */
  readonly spinner: SharedArrayBuffer | undefined;
  /**
   * The reads the component plans (its block's `plannedRead` in the building-block table, when it exports
   * the plan): served as planned reads, not as plain calls. Absent: every call is a plain call.
   */
  readonly plannedRead?: PlannedRead;
  /**
   * The calls the component plans (its block's `plannedInvoke`, when it exports the plan): served as planned
   * invocations, batched (see `planned-invokes.ts`). Absent: every call is a plain call.
   */
  readonly plannedInvoke?: PlannedInvoke;
  /** What the component may reach, as the capability thread has it: planned HTTP I/O is checked against it. */
  readonly grants?: GrantSource;
}

/**
 * Control words shared by the host and one instance (Int32 indexes into `WorkerInit.calls`):
 * - `CTL_POSTED` is bumped (and notified) after every call posted: the instance blocks on it between calls
 *   instead of idling in its event loop;
 * - `CTL_STARTED` is the `seq` of the last call the instance started. The instance starts call `seq` only by
 *   moving it from `seq - 1` to `seq` (compare-and-exchange); the host withdraws every call not yet started
 *   by setting it to `SEALED` (the instance then skips them, and the host sends them elsewhere);
 * - `CTL_RUNNING` is the `seq` of the call the instance is executing synchronously (it cannot take another
 *   call meanwhile), or `NOT_RUNNING`.
 */
export const CTL_POSTED = 0;
export const CTL_STARTED = 1;
export const CTL_RUNNING = 2;
export const CTL_WORDS = 3;
export const SEALED = -2;
export const NOT_RUNNING = -1;
/** Call sequence numbers wrap within 30 bits (never negative, so never `SEALED` or `NOT_RUNNING`). */
export const SEQ_MASK = 0x3fffffff;

/** The sequence number after `seq`. */
export function nextSeq(seq: number): number {
  return (seq + 1) & SEQ_MASK;
}

/** Whether call `a` was posted after call `b` (sequence numbers compared modulo their wrap). */
export function postedAfter(a: number, b: number): boolean {
  const d = (a - b) & SEQ_MASK;
  return d !== 0 && d < SEQ_MASK >>> 1;
}

/** This thread's `performance.timeOrigin` (fixed for the thread's life; each worker loads its own copy). */
const TIME_ORIGIN = performance.timeOrigin;

/**
 * A clock every thread reads the same (milliseconds since the epoch, sub-millisecond precision): call
 * deadlines are set on the main thread and checked in the instance.
 */
export function sharedClock(): number {
  return TIME_ORIGIN + performance.now();
}

/**
 * How long before a call's deadline its host imports and planned reads give up, so the guest returns its
 * own error (say `unavailable: host call redis.command timed out`) in time for the caller, and the instance
 * is free: 50 ms, or a tenth of the call's budget (`budgetMs`: what it had left when it started) if that is
 * less, so a short Resiliency timeout (50 ms or less) still leaves the call time to try.
 */
export function deadlineMargin(budgetMs: number): number {
  return Math.min(50, budgetMs / 10);
}

/** States of the word of a reply awaited by a spinning caller (`WorkerInit.result`). */
export const RESULT_IDLE = 0;
export const RESULT_WAITING = 1;
export const RESULT_WRITING = 2;
export const RESULT_DONE = 3;

/** A call into an exported function: `iface` is the export's JS name (`lifecycle`, `stateStore`). */
export interface CallMessage {
  readonly id: number;
  /** Position of this call among those posted to this instance (see `CTL_STARTED`). */
  readonly seq: number;
  /** When the caller stops waiting (`sharedClock`): the instance does not start the call after it, and its
   *  host imports give up by then. */
  readonly deadline: number;
  /** The caller spins for this reply (see `RESULT_*` and `WorkerInit.resultPort`). */
  readonly sync?: boolean;
  readonly iface: string;
  readonly fn: string;
  readonly args: readonly unknown[];
  /**
   * A batch this call was part of trapped while being planned: plan it only with the calls of the same
   * group (half of that batch), while no other I/O is in flight in the instance (see `planned-invokes.ts`).
   */
  readonly group?: number;
}

/** How a call ended. `error` is a WIT error value (`{tag, val}`) returned by the component. */
export type ResultMessage =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly kind: 'error'; readonly error: unknown }
  | { readonly id: number; readonly ok: false; readonly kind: 'trap'; readonly message: string }
  /** The call's deadline had passed when the instance came to it: it was not run. */
  | { readonly id: number; readonly ok: false; readonly kind: 'expired' }
  /**
   * The instance trapped while planning a batch of planned invocations this call was part of, before any of
   * the batch's I/O: nothing of it was done. The host re-sends it in one half of that batch (`CallMessage.group`),
   * and halves again until the request that traps is alone: only it fails.
   */
  | { readonly id: number; readonly ok: false; readonly kind: 'replan' };

/** Several replies in one message (a batch of planned invocations): the host takes them all before acting on a trap. */
export interface ResultBatch {
  readonly results: readonly ResultMessage[];
  /**
   * Calls of other batches whose I/O has started, sent with a trap: if the instance is replaced they fail
   * rather than run twice. Every other call the instance took did nothing, and is re-sent.
   */
  readonly busy?: readonly number[];
}

/** Sent once by the worker after instantiation, or when instantiation failed. */
export type ReadyMessage = { readonly ready: true; readonly exports: string[] } | { readonly ready: false; readonly message: string };
