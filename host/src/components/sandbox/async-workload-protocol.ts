/**
 * What the async workload pool (`async-workload-pool.ts`) and its workers (`async-workload-worker.ts`) say to
 * each other. Imports only types and the error catalogue, so the host can load it without loading the worker.
 */
import type { MessagePort } from 'node:worker_threads';
import { MortarError } from '../../errors.js';
import type { WorkloadRequest, WorkloadResponse } from './wasi-http.js';
import type { WorkloadWorkerData } from './workload-protocol.js';

/** What an async workload worker starts from. */
export interface AsyncWorkloadWorkerData extends WorkloadWorkerData {
  /** The workload's name, for logs. */
  readonly name: string;
  /** Folder of the JSPI artifact (`component.js` + core modules). */
  readonly dir: string;
  /** Its core modules, compiled once with the memory cap and state exports, shared by every instance. */
  readonly modules: Readonly<Record<string, WebAssembly.Module>>;
  /** The most instances of the worker, so the most requests it serves at once. */
  readonly instances: number;
  /** How long one host call may keep a guest suspended before it fails with `unavailable`. */
  readonly importTimeoutMs: number;
  /** The async bridge (`capabilities/bridge.ts` `serveAsyncBridge`): every host call, outbound HTTP too. */
  readonly bridge: MessagePort;
  /** Each request's deadline (ms): those its own listener takes. */
  readonly callTimeoutMs: number;
  /** A listener to run from the start (a worker started while the pool listens: `AsyncWorkloadPool.listen`). */
  readonly listener?: WorkerListener;
}

/**
 * A listener the worker runs itself (`AsyncWorkloadPool.listen`), taking requests from clients directly rather
 * than from the pool: `module` (a file URL) exports `startListener(options, serve)` (`WorkerListenerModule`).
 * The pool knows nothing of what it serves (routing, HTTP): that is the module's, from the layer that wires it.
 */
export interface WorkerListener {
  readonly module: string;
  /** Structured-cloneable options, the module's own. */
  readonly options: unknown;
}

/** What a `WorkerListener`'s module exports. */
export interface WorkerListenerModule {
  /**
   * Starts listening; `serve` runs one request on the worker's instances as `AsyncWorkloadPool.handle` does
   * (it rejects with the same `MortarError`s), `log` writes a line to the host's log.
   */
  startListener(options: unknown, serve: LocalServe, log: (level: 'debug' | 'warn' | 'error', line: string) => void): Promise<RunningListener>;
}

/** Runs one request in the worker (`WorkerListenerModule.startListener`). */
export type LocalServe = (request: WorkloadRequest) => Promise<WorkloadResponse | { error: string }>;

/** A listener once started. */
export interface RunningListener {
  /** Stops accepting, lets the requests in flight finish for at most `graceMs`, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

/**
 * The most requests waiting for an instance, in the pool for a worker with room, and in a worker for one of its
 * instances (those of its own listener); one more is refused (`ERR_COMPONENT_UNAVAILABLE`, 503).
 */
export const MAX_WAITING = 1024;

/**
 * Request ids of the worker's own listener start here, and those the pool posts stay below: the interrupt
 * words (`wasm-interrupt.ts`) tell them apart, and the pool's watchdog (`AsyncWorkloadPool`) stops only the
 * former by how long they have run (the pool's own have timers there).
 */
export const LOCAL_REQUEST_IDS = 0x40000000;

/**
 * The pool's word on the worker's listener, or on the component it runs (`swap`: a changed `.wasm`, its JSPI
 * artifact's folder and compiled modules; the worker and its listener go on).
 */
export type AsyncWorkloadControl =
  | { readonly listen: WorkerListener }
  | { readonly unlisten: number }
  | { readonly swap: { readonly dir: string; readonly modules: Readonly<Record<string, WebAssembly.Module>> } };

/** The worker's answer to an `AsyncWorkloadControl`: done, or why not (`failed`: it threw). */
export type AsyncWorkloadControlReply =
  | { readonly listening: boolean; readonly message?: string }
  | { readonly unlistened: true }
  | { readonly swapped: boolean; readonly message?: string }
  | { readonly failed: string };

/** One request for the worker; `deadline` is a `Date.now()` time. */
export interface AsyncWorkloadRequest {
  readonly id: number;
  readonly request: WorkloadRequest;
  readonly deadline: number;
}

/** The worker's answer: the guest's response (or `{error}`: it set none), or why there is none. */
export type AsyncWorkloadReply =
  | { readonly id: number; readonly ok: true; readonly value: WorkloadResponse | { error: string } }
  | { readonly id: number; readonly ok: false; readonly kind: 'trap' | 'expired'; readonly message: string };

/**
 * The error a request fails with when its reply says it did not succeed, as the pool and the worker's own
 * listener answer it: `ERR_COMPONENT_TIMEOUT` past its deadline, `ERR_COMPONENT_TRAPPED` otherwise.
 */
export function replyError(r: Extract<AsyncWorkloadReply, { ok: false }>, name: string, callTimeoutMs: number): MortarError {
  return r.kind === 'expired' ? new MortarError('ERR_COMPONENT_TIMEOUT', [name, callTimeoutMs]) : new MortarError('ERR_COMPONENT_TRAPPED', [name, r.message]);
}

/**
 * The worker's word on one of its instances (`n`, numbered by the worker): the shared buffers of its interrupt
 * words (`wasm-interrupt.ts`), sent when it is made and each time it is instantiated anew, or that it is gone.
 * The pool stops a request past its deadline through them (`WorkloadInstance.serving`).
 */
export type AsyncWorkloadSlot = { readonly slot: number; readonly buffers: readonly SharedArrayBuffer[] } | { readonly slotGone: number };
