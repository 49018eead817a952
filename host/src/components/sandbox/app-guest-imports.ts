/**
 * The `mortar:app` imports of a workload instance, as the guest sees them (wit/deps/app/app.wit): each WIT
 * function forwards its arguments, as jco lifted them, over the sandbox's synchronous bridge (`HostCall`) as the
 * operation `app.<interface>.<function>` (`app.state.get-bulk`); the host serves it with the workload's
 * `appImportTable` (`workloads/app-imports.ts`). The ok value comes back as the function's result, an
 * `app-error` as the result's `err` (jco hands the guest the `payload` of what an import throws).
 *
 * A call whose arguments measure over `maxCallBytes` (`callBytes`; `WORKLOAD_LIMITS.appCallBytes`) fails with
 * `bad-request` here, in the worker: nothing over the bound crosses to the host. A bridge failure (the request's
 * deadline passed while the host worked) is an `internal` error. Imports nothing but the error catalogue.
 */
import { MortarError } from '../../errors.js';
import { guarded } from './maybe.js';
import type { HostCall } from './workload-imports.js';

/** The functions of each `mortar:app` interface, by WIT name (the table's operations: `state.get-bulk`). */
export const APP_INTERFACES = {
  state: ['get', 'get-bulk', 'save', 'delete', 'delete-bulk', 'transact'],
  pubsub: ['publish', 'publish-bulk'],
  bindings: ['invoke'],
  metadata: ['get', 'app-id'],
} as const;

/** The version of the `mortar:app` package served (a guest imports `mortar:app/state@0.1.0`; any 0.1.x links). */
export const APP_PACKAGE_VERSION = '0.1.0';

/** How a bridge operation of `mortar:app` is named: this prefix, then the table's operation (`app.state.get`). */
export const APP_OP_PREFIX = 'app.';

/** The functions whose WIT result is no `result<_, app-error>`: a failure of theirs traps the request. */
const PLAIN = new Set(['metadata.get', 'metadata.app-id']);

/** The `app-error` cases (a host answer in another shape is not one). */
const APP_ERROR_TAGS = new Set(['etag-mismatch', 'etag-invalid', 'not-configured', 'not-found', 'forbidden', 'not-supported', 'bad-request', 'internal']);

/** A WIT name as jco names it in JavaScript: `get-bulk` is `getBulk`, `delete` is `delete`. */
export function jcoName(wit: string): string {
  return wit.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** What a value counts for an item of `callBytes` that is neither bytes nor a string. */
const VALUE_BYTES = 8;

/**
 * The size of a call's arguments as `WORKLOAD_LIMITS.appCallBytes` counts it: every `list<u8>` by its length,
 * every string by its UTF-8 length, and every other value (a number, a bool, a record, a list, a list's entry,
 * an absent option) as 8 bytes. Stops counting once past `limit` (so a huge list costs no more than the bound).
 */
export function callBytes(args: readonly unknown[], limit: number): number {
  let n = 0;
  const stack: unknown[] = [args];
  while (stack.length > 0 && n <= limit) {
    const v = stack.pop();
    if (v instanceof Uint8Array) n += v.byteLength;
    else if (typeof v === 'string') n += Buffer.byteLength(v, 'utf8');
    else {
      n += VALUE_BYTES;
      if (Array.isArray(v)) for (let i = 0; i < v.length && n + i * VALUE_BYTES <= limit; i++) stack.push(v[i]);
      else if (v !== null && typeof v === 'object') for (const k in v) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return n;
}

/** An `app-error` thrown into the guest (jco lowers the `payload` as the result's `err`). */
function appError(tag: string, code: 'ERR_BAD_REQUEST' | 'ERR_INTERNAL', detail: string): Error {
  const e = new MortarError(code, [detail]);
  return Object.assign(new Error(e.message), { payload: { tag, val: { code, message: e.message } } });
}

/** The `mortar:app/<interface>` import objects, by interface (jco names imports without their version). */
export function appGuestImports(call: HostCall, maxCallBytes: number): Record<string, Record<string, (...args: unknown[]) => unknown>> {
  const out: Record<string, Record<string, (...args: unknown[]) => unknown>> = {};
  for (const [iface, fns] of Object.entries(APP_INTERFACES)) {
    const functions: Record<string, (...args: unknown[]) => unknown> = {};
    for (const fn of fns as readonly string[]) {
      const op = `${iface}.${fn}`;
      const plain = PLAIN.has(op);
      functions[jcoName(fn)] = (...args: unknown[]) => {
        const size = callBytes(args, maxCallBytes);
        if (size > maxCallBytes) {
          const e = appError(
            'bad-request',
            'ERR_BAD_REQUEST',
            `mortar:app ${op}: the arguments are over the ${maxCallBytes} bytes a workload may send in one call`,
          );
          if (plain) throw new Error(e.message);
          throw e;
        }
        const fail = (err: unknown): never => {
          if (plain) throw err;
          const p = (err as { payload?: { tag?: unknown; val?: { code?: unknown } } }).payload;
          if (p && typeof p.tag === 'string' && APP_ERROR_TAGS.has(p.tag) && typeof p.val?.code === 'string') throw err;
          throw appError('internal', 'ERR_INTERNAL', `mortar:app ${op}: ${err instanceof Error ? err.message : String(err)}`);
        };
        // A promise in an async worker (`maybe.ts`): its rejection is rendered the same.
        return guarded(() => call(`${APP_OP_PREFIX}${op}`, args), fail);
      };
    }
    out[`mortar:app/${iface}`] = functions;
  }
  return out;
}
