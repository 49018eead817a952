/**
 * The stacks of JSPI calls (the async workload mode: `async-workload-pool.ts`), a rule set in one place.
 *
 * Every call into a JSPI-lifted export runs the guest on a stack of its own, held while the guest is
 * suspended on a host call. V8 keeps freed stacks in a pool of at most 4 MB per isolate; at V8's default
 * size (984 KB a stack) four fit, so an async worker serving 16 requests at once mapped a fresh stack for
 * most requests and unmapped one after it: page faults and TLB shootdowns, 16% of an async worker's CPU
 * under load in `perf` (2026-12-04, `bench/RESULTS.md`).
 *
 * So stacks start at `JSPI_STACK_KB` and grow by segments, as the guest needs, up to V8's `--stack-size`
 * (nearly the same depth as before: a recursion test reaches 9,584 frames against 10,982). Host functions the guest
 * calls run on the thread's own stack, not on the guest's. V8's flags are the process's, so this is set
 * once, before the first async worker starts.
 */
import { setFlagsFromString } from 'node:v8';

/** A JSPI stack's first segment (V8's `--wasm-stack-switching-stack-size`); 64 of them fit in V8's pool. */
export const JSPI_STACK_KB = 64;

/** Sets V8's JSPI stack flags for the process (setting them again changes nothing). */
export function configureJspiStacks(): void {
  setFlagsFromString(`--wasm-stack-switching-stack-size=${JSPI_STACK_KB}`);
  setFlagsFromString('--experimental-wasm-growable-stacks');
}
