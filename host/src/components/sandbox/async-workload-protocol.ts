/**
 * What the async workload pool (`async-workload-pool.ts`) and its workers (`async-workload-worker.ts`) say to
 * each other. Imports only types, so the host can load it without loading the worker.
 */
import type { MessagePort } from 'node:worker_threads';
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
}

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
 * The worker's word on one of its instances (`n`, numbered by the worker): the shared buffers of its interrupt
 * words (`wasm-interrupt.ts`), sent when it is made and each time it is instantiated anew, or that it is gone.
 * The pool stops a request past its deadline through them (`WorkloadInstance.serving`).
 */
export type AsyncWorkloadSlot = { readonly slot: number; readonly buffers: readonly SharedArrayBuffer[] } | { readonly slotGone: number };
