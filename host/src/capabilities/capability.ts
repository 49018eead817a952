/**
 * What a capability's host side is made of: one handler per entry of its shape (`shapes.ts`), each static
 * constructor and free function with the grants it needs, and how a resource is released. The capability
 * thread routes every bridge operation to these (`host-endpoint.ts`); nothing else spells an operation.
 */
import type { CAPABILITY_SHAPES, CapabilityName } from './shapes.js';
import type { GrantKind, Grants } from './grants.js';
import type { WitError } from './wit-error.js';
import type { RedisClients } from './redis.js';
import type { SqlDatabases } from './sql.js';

/** Where an endpoint's log lines go (a pino logger, or one that forwards to the main thread). */
export interface LogSink {
  trace(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The process-wide connection registries every component's endpoint draws from. */
export interface Connectors {
  readonly redis: RedisClients;
  readonly sql: SqlDatabases;
}

/** What a handler knows of the call it serves. */
export interface CallContext {
  /** The component's name (its resource's `metadata.name`). */
  readonly component: string;
  /** What the component may reach (checked for `grant` before the handler runs; for more, by the handler). */
  readonly grants: Grants;
  readonly connectors: Connectors;
  readonly logger: LogSink;
  /** `performance.now()` by which the answer must be written: the instance stops waiting soon after. */
  readonly deadline: number;
  /** Logs the refusal (`component <c> may not reach <kind> <what>: <why>`) and returns the `access-denied` error. */
  denied(kind: string, what: string, why?: string): WitError;
}

/** A grant a call needs before its handler runs: `value` for `kind`; the log and the error show `shown`. */
export interface GrantNeed {
  readonly kind: GrantKind;
  readonly value: string;
  /** What the log line and the error name instead of `value` (a connection string without its password). */
  readonly shown?: string;
}

/** A static constructor or a free function: the grants it needs, then what it does. */
export interface Entry<R> {
  /**
   * The grants the call needs, from its arguments; each must be granted or the call is `access-denied`
   * (none: a call that reaches nothing). May throw a WIT error for arguments too malformed to check.
   */
  grant(args: readonly unknown[]): readonly GrantNeed[];
  run(ctx: CallContext, args: readonly unknown[]): Promise<R>;
}

/**
 * A resource: statics that open it (their result is kept as the handle's value), its methods, its release.
 * `T`, the value's type, is left open in `CapabilityHandlers` (each handler names it on its parameter).
 */
// biome-ignore lint/suspicious/noExplicitAny: each handler names its value's type on its own parameter (see above)
export interface ResourceHandlers<S extends string, M extends string, T = any> {
  readonly statics: { readonly [K in S]: Entry<T> };
  /** `args`: the method's arguments after the handle. */
  readonly methods: { readonly [K in M]: (value: T, args: readonly unknown[], ctx: CallContext) => unknown };
  /** Releases a handle's value (the guest dropped it, or the component is unloaded). */
  close(value: T, ctx: Pick<CallContext, 'connectors'>): void | Promise<void>;
}

type Shapes = typeof CAPABILITY_SHAPES;
type ResourcesOf<C extends CapabilityName> = Shapes[C]['resources'];

/** The host side of capability `C`: exactly one handler per function, static and method of its shape. */
export interface CapabilityHandlers<C extends CapabilityName> {
  readonly functions: { readonly [F in Shapes[C]['functions'][number]]: Entry<unknown> };
  readonly resources: {
    readonly [R in keyof ResourcesOf<C>]: ResourcesOf<C>[R] extends {
      statics: readonly (infer S extends string)[];
      methods: readonly (infer M extends string)[];
    }
      ? ResourceHandlers<S, M>
      : never;
  };
}
