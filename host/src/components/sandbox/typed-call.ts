/**
 * Typed calls into one export of a component, for the block adapters (`blocks/<block>/*-client.ts`): the
 * function names, arguments and results are those of the interface's types generated from the WIT
 * (`host/generated/interfaces/*.d.ts`), so a call site names no string and casts no result.
 *
 * The sandbox answers with whatever the component returned: the types hold for a component built for the
 * world (the loader checks its exports), as they do for any jco-transpiled component.
 */

/** How a call into a component's export is made: `InstancePool.call`, or the direct call `PoolOptions.prepare` gets. */
export type ExportCall = (iface: string, fn: string, args: unknown[], timeoutMs?: number) => Promise<unknown>;

/** The names of the functions of a generated interface module `I` (`typeof import('.../mortar-component-pubsub.js')`). */
export type FnName<I> = { [K in keyof I]: I[K] extends (...args: never[]) => unknown ? K : never }[keyof I] & string;

type Args<T> = T extends (...args: infer A) => unknown ? A : never;
type Result<T> = T extends (...args: never[]) => infer R ? R : never;

/** Calls function `fn` of interface `I` with its WIT arguments; resolves with its WIT result, rejects as `InstancePool.call` does. */
export type TypedCall<I> = <F extends FnName<I>>(fn: F, args: Args<I[F]>, timeoutMs?: number) => Promise<Result<I[F]>>;

/** Typed calls into the export `iface` (jco's name, from the building-block table) through `target.call`. */
export function typedCall<I>(target: { call: ExportCall }, iface: string): TypedCall<I> {
  return <F extends FnName<I>>(fn: F, args: Args<I[F]>, timeoutMs?: number) => target.call(iface, fn, args as unknown[], timeoutMs) as Promise<Result<I[F]>>;
}
