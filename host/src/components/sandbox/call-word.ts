/**
 * The worker's side of the call word and the result area (see `protocol.ts`), shared by the component worker
 * (`worker.ts`) and the workload worker (`workload-worker.ts`): taking a posted call, handing a reply to a
 * caller that spins for it, and releasing that caller.
 */
import { type SharedArea, writeArea } from '../../capabilities/shared-area.js';
import { CTL_STARTED, RESULT_DONE, RESULT_IDLE, RESULT_WAITING, RESULT_WRITING, SEQ_MASK, type CallMessage, type ResultMessage } from './protocol.js';

/**
 * Takes call `msg` if the host has not withdrawn it (see `CTL_STARTED`): false means it is served elsewhere,
 * and must not run here.
 */
export function claimCall(ctl: Int32Array, msg: CallMessage): boolean {
  const before = (msg.seq - 1) & SEQ_MASK;
  return Atomics.compareExchange(ctl, CTL_STARTED, before, msg.seq) === before;
}

/**
 * A caller still spinning for this reply gets it through shared memory (no wake-up of its event loop); false
 * when it gave up, or the reply could not be written there: it then takes the reply as a message.
 */
export function handOver(result: SharedArea, reply: ResultMessage): boolean {
  if (Atomics.compareExchange(result.words, 0, RESULT_WAITING, RESULT_WRITING) !== RESULT_WAITING) return false;
  let written = false;
  try {
    written = writeArea(result, reply);
  } catch {
    /* not serialisable here: fall back to a message */
  }
  // Not written: release the caller (it then takes the reply as a message).
  Atomics.store(result.words, 0, written ? RESULT_DONE : RESULT_IDLE);
  return written;
}

/** Stops a caller spinning for a reply (it then waits for a message): the call needs host I/O first. */
export function releaseSpinner(result: SharedArea): void {
  Atomics.compareExchange(result.words, 0, RESULT_WAITING, RESULT_IDLE);
}
