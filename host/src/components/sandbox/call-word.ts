/**
 * The worker's side of the call word and of replies to a spinning caller (see `protocol.ts`), shared by the component worker
 * (`worker.ts`) and the workload worker (`workload-worker.ts`): taking a posted call, handing a reply to a
 * caller that spins for it, and releasing that caller.
 */
import type { MessagePort } from 'node:worker_threads';
import {
  CTL_STARTED,
  RESULT_DONE,
  RESULT_IDLE,
  RESULT_WAITING,
  RESULT_WRITING,
  SEQ_MASK,
  type CallMessage,
  type ResultMessage,
  type WorkerInit,
} from './protocol.js';

/** The worker's end of the replies awaited by a spinning caller: the state word and the port they go by. */
export interface SpinnerReply {
  readonly state: Int32Array;
  readonly port: MessagePort;
}

/** The `SpinnerReply` of a worker started with `init`. */
export function spinnerReply(init: WorkerInit): SpinnerReply {
  return { state: new Int32Array(init.result), port: init.resultPort };
}

/**
 * Takes call `msg` if the host has not withdrawn it (see `CTL_STARTED`): false means it is served elsewhere,
 * and must not run here.
 */
export function claimCall(ctl: Int32Array, msg: CallMessage): boolean {
  const before = (msg.seq - 1) & SEQ_MASK;
  return Atomics.compareExchange(ctl, CTL_STARTED, before, msg.seq) === before;
}

/**
 * A caller still spinning for this reply gets it on the reply port, and sees it there without a wake-up of its
 * event loop; false when it gave up, or the reply could not be sent (it then takes the reply as a message).
 */
export function handOver(to: SpinnerReply, reply: ResultMessage): boolean {
  if (Atomics.compareExchange(to.state, 0, RESULT_WAITING, RESULT_WRITING) !== RESULT_WAITING) return false;
  let sent = false;
  try {
    to.port.postMessage(reply);
    sent = true;
  } catch {
    /* not cloneable: fall back to a message */
  }
  // Not sent: release the caller (it then takes the reply as a message).
  Atomics.store(to.state, 0, sent ? RESULT_DONE : RESULT_IDLE);
  return sent;
}

/** Stops a caller spinning for a reply (it then waits for a message): the call needs host I/O first. */
export function releaseSpinner(to: SpinnerReply): void {
  Atomics.compareExchange(to.state, 0, RESULT_WAITING, RESULT_IDLE);
}
