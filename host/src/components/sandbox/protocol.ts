/**
 * Messages between the host (main thread) and a sandbox worker.
 *
 * Two channels per worker:
 * - the worker's own port carries calls into the component (`CallMessage` -> `ResultMessage`), asynchronously;
 * - a dedicated `bridge` port carries host imports out of the component to the capabilities (see
 *   `capabilities/bridge.ts`), which serve it on their own thread.
 */

import type { MessagePort } from 'node:worker_threads';

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
  /** Bridge replies (a `SharedArea`): word 0 is the sequence number of the latest reply. */
  readonly reply: SharedArrayBuffer;
  readonly bridge: MessagePort;
  /** Int32 word 0 is bumped (and notified) after every call posted to the worker: the worker blocks on it
   *  between calls instead of idling in its event loop. */
  readonly calls: SharedArrayBuffer;
  /** Replies to calls whose caller spins for them (a `SharedArea`): word 0 is a `RESULT_*` state. */
  readonly result: SharedArrayBuffer;
}

/** States of the result area's word 0. */
export const RESULT_IDLE = 0;
export const RESULT_WAITING = 1;
export const RESULT_WRITING = 2;
export const RESULT_DONE = 3;

/** A call into an exported function: `iface` is the export's JS name (`lifecycle`, `stateStore`). */
export interface CallMessage {
  readonly id: number;
  /** The caller is waiting for this reply in the shared result area (see `RESULT_*`). */
  readonly sync?: boolean;
  readonly iface: string;
  readonly fn: string;
  readonly args: readonly unknown[];
}

/** How a call ended. `error` is a WIT error value (`{tag, val}`) returned by the component. */
export type ResultMessage =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly kind: 'error'; readonly error: unknown }
  | { readonly id: number; readonly ok: false; readonly kind: 'trap'; readonly message: string };

/** Sent once by the worker after instantiation, or when instantiation failed. */
export type ReadyMessage = { readonly ready: true; readonly exports: string[] } | { readonly ready: false; readonly message: string };
