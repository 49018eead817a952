/**
 * The imports an async workload worker (`async-workload-worker.ts`) suspends the guest on: every function of
 * the interfaces whose calls go to the host over the bridge (key-value, variables, config, `mortar:app`),
 * named as jco's `asyncImports` names them (`fermyon:spin/key-value@2.0.0#[method]store.get`), at the
 * versions the component imports. The JSPI glue wraps each in `WebAssembly.Suspending`: an import that
 * answers a promise (`workload-imports.ts`) suspends the guest until it settles, while the worker serves other
 * requests. So do a pollable's `block` and `poll`: the guest waits there for an outbound HTTP response (sent over
 * the same bridge) or a clock (`wasi-io.ts` `waits`).
 */
import { APP_INTERFACES } from './app-guest-imports.js';

/** By interface (without its version): the functions, in WIT's names, that call the host. */
export const ASYNC_FUNCTIONS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  [
    'fermyon:spin/key-value',
    ['[static]store.open', '[method]store.get', '[method]store.set', '[method]store.delete', '[method]store.exists', '[method]store.get-keys'],
  ],
  ['fermyon:spin/variables', ['get']],
  ['wasi:keyvalue/store', ['open', '[method]bucket.get', '[method]bucket.set', '[method]bucket.delete', '[method]bucket.exists', '[method]bucket.list-keys']],
  ['wasi:keyvalue/atomics', ['[static]cas.new', 'increment', 'swap']],
  ['wasi:keyvalue/batch', ['get-many', 'set-many', 'delete-many']],
  ['wasi:config/store', ['get', 'get-all']],
  ['wasi:io/poll', ['[method]pollable.block', 'poll']],
  ...Object.entries(APP_INTERFACES).map(([iface, fns]) => [`mortar:app/${iface}`, fns as readonly string[]] as const),
]);

/** jco's `asyncImports` for a component importing `imports` (versioned interface names, as jco lists them). */
export function asyncImportsOf(imports: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of imports) {
    const fns = ASYNC_FUNCTIONS.get(name.replace(/@.*$/, ''));
    if (fns) for (const fn of fns) out.push(`${name}#${fn}`);
  }
  return out.sort();
}
