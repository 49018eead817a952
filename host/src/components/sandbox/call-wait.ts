/**
 * How an instance that blocks between calls waits for its next one (`worker.ts`, `workload-worker.ts`).
 *
 * A parked thread (`Atomics.wait`) costs nothing while idle but much when woken: on this kind of VM the wake
 * itself is 40-90 us, and the code that runs just after it is 2-5 times slower than warm. Calls made one at a
 * time (a client awaiting each `GetState`) pay that on every call: about 0.15 ms of a 0.44 ms round trip
 * (`bench/RESULTS.md`, 2026-12-02). So an instance whose calls have been coming close together spins on the
 * call word before it parks, as an adaptive mutex does:
 * - it spins only if its previous call came within `SPIN_WINDOW_MS` of the instance becoming free, and for at
 *   most that long; calls spaced wider are waited for parked, at no CPU cost, and under load no instance
 *   waits at all;
 * - one thread of the process spins at a time (it holds the spinner word), and none unless the process may
 *   use two cores (the pool then has no spinner word to give: `spinnerWord`): the spinner's core is one the
 *   API thread does not need.
 * The price is CPU while calls trickle in one at a time: the spinner's core is busy between them.
 */
import { usableCores } from '../../usable-cores.js';
import { CTL_POSTED } from './protocol.js';

/** The longest spin, and the widest spacing of calls that makes an instance spin (milliseconds). */
export const SPIN_WINDOW_MS = 1;

/**
 * The spinner word of a process (one Int32, shared by every instance it starts): the `threadId` of the thread
 * spinning, or 0. None unless the process may keep two cores busy (`usableCores`): then no instance spins.
 */
export function spinnerWord(cores = usableCores()): SharedArrayBuffer | undefined {
  return cores >= 2 ? new SharedArrayBuffer(4) : undefined;
}

/** Frees the spinner word if thread `threadId` held it (it was terminated mid-spin). */
export function releaseSpinnerWord(word: SharedArrayBuffer, threadId: number): void {
  Atomics.compareExchange(new Int32Array(word), 0, threadId, 0);
}

/** An instance's wait for its next call (see the module's comment). */
export class CallWait {
  readonly #ctl: Int32Array;
  readonly #spinner: Int32Array | undefined;
  readonly #id: number;
  /** The previous call came within the window: spin for the next one. */
  #close = false;

  /** `ctl`: the instance's control words; `spinner`: the process's `spinnerWord` (none: never spin); `id`: this thread's `threadId`. */
  constructor(ctl: Int32Array, spinner: SharedArrayBuffer | undefined, id: number) {
    this.#ctl = ctl;
    this.#spinner = spinner && new Int32Array(spinner);
    this.#id = id;
  }

  /** Blocks until `CTL_POSTED` has moved past `seen` (a call was posted); returns its new value. */
  next(seen: number): number {
    const start = performance.now();
    const word = this.#spinner;
    if (this.#close && word && Atomics.compareExchange(word, 0, 0, this.#id) === 0) {
      const until = start + SPIN_WINDOW_MS;
      while (Atomics.load(this.#ctl, CTL_POSTED) === seen && performance.now() < until);
      Atomics.store(word, 0, 0);
    }
    // Returns at once if a call came while spinning.
    Atomics.wait(this.#ctl, CTL_POSTED, seen);
    this.#close = performance.now() - start <= SPIN_WINDOW_MS;
    return Atomics.load(this.#ctl, CTL_POSTED);
  }
}
