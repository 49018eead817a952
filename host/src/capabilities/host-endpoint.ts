import type { Grants } from './grants.js';
import type { HostEndpoint } from './bridge.js';
import { witError, type WitError } from './wit-error.js';
import { deniedError } from './denied.js';
import { CAPABILITY_SHAPES, dropOp, opName, type ResourceShape } from './shapes.js';
import { CAPABILITY_HANDLERS } from './capabilities.js';
import type { CallContext, Connectors, Entry, LogSink, ResourceHandlers } from './capability.js';

export type { Connectors, LogSink } from './capability.js';
export { redact } from './redact.js';

/** A resource as the router knows it: `redis.connection`, with its handlers. */
interface ResourceRoute {
  readonly name: string;
  readonly handlers: ResourceHandlers<string, string>;
}

/** What one bridge operation is. */
type Route =
  | { readonly kind: 'function'; readonly entry: Entry<unknown> }
  | { readonly kind: 'static'; readonly entry: Entry<unknown>; readonly resource: ResourceRoute }
  | { readonly kind: 'method'; readonly method: ResourceHandlers<string, string>['methods'][string]; readonly resource: ResourceRoute }
  | { readonly kind: 'drop'; readonly resource: ResourceRoute };

/** Every bridge operation, from the shapes (`opName`), with its handler. */
const ROUTES: ReadonlyMap<string, Route> = (() => {
  const routes = new Map<string, Route>();
  const handlers = CAPABILITY_HANDLERS as unknown as Record<
    string,
    {
      functions: Record<string, Entry<unknown>>;
      resources: Record<string, ResourceHandlers<string, string>>;
    }
  >;
  for (const [capability, shape] of Object.entries(CAPABILITY_SHAPES)) {
    const h = handlers[capability]!;
    for (const fn of shape.functions as readonly string[]) routes.set(opName(capability, undefined, fn), { kind: 'function', entry: h.functions[fn]! });
    for (const [name, r] of Object.entries(shape.resources as Readonly<Record<string, ResourceShape>>)) {
      const resource: ResourceRoute = { name: `${capability}.${name}`, handlers: h.resources[name]! };
      for (const s of r.statics) routes.set(opName(capability, name, s), { kind: 'static', entry: resource.handlers.statics[s]!, resource });
      for (const m of r.methods) routes.set(opName(capability, name, m), { kind: 'method', method: resource.handlers.methods[m]!, resource });
      routes.set(dropOp(capability, name), { kind: 'drop', resource });
    }
  }
  return routes;
})();

/**
 * How long before the instance stops waiting the host answers: a tenth of the budget, at most 100 ms, so a
 * request the host gives up on reaches the guest as the host's own error rather than a bridge timeout.
 */
function answerMargin(budget: number): number {
  return Math.min(100, budget / 10);
}

/**
 * The host side of one component's `mortar:host` imports: routes each operation to its capability's handler,
 * checks a constructor's or a function's grants before it runs, keeps the handles it opened, and releases them
 * when the component is unloaded.
 */
export class ComponentHostEndpoint implements HostEndpoint {
  readonly #handles = new Map<number, { resource: ResourceRoute; value: unknown }>();
  #next = 1;

  constructor(
    readonly component: string,
    readonly grants: Grants,
    readonly connectors: Connectors,
    readonly logger: LogSink,
  ) {}

  log(level: string, message: string): void {
    const fn = (['trace', 'debug', 'info', 'warn', 'error'] as const).find((l) => l === level) ?? 'info';
    this.logger[fn]({ component: this.component }, message);
  }

  async dispatch(op: string, args: readonly unknown[], budget: number): Promise<unknown> {
    const route = ROUTES.get(op);
    if (!route) throw witError('other', `unknown host import ${op}`);
    switch (route.kind) {
      case 'function':
        return this.#granted(route.entry, args).run(this.#context(budget), args);
      case 'static': {
        const value = await this.#granted(route.entry, args).run(this.#context(budget), args);
        const id = this.#next++;
        this.#handles.set(id, { resource: route.resource, value });
        return id;
      }
      case 'method': {
        const h = this.#handles.get(args[0] as number);
        if (h?.resource !== route.resource) throw witError('other', `invalid ${route.resource.name} handle`);
        return route.method(h.value, args.slice(1), this.#context(budget));
      }
      case 'drop':
        return this.#drop(args[0]);
    }
  }

  async close(): Promise<void> {
    for (const id of [...this.#handles.keys()]) this.#drop(id);
  }

  /** `entry`, once every grant it needs from `args` is granted; refuses (and logs) otherwise. */
  #granted<R>(entry: Entry<R>, args: readonly unknown[]): Entry<R> {
    for (const need of entry.grant(args)) {
      if (!this.grants.allows(need.kind, need.value)) throw this.#denied(need.kind, need.shown ?? need.value);
    }
    return entry;
  }

  #context(budget: number): CallContext {
    const b = Number.isFinite(budget) ? budget : Infinity;
    return {
      component: this.component,
      grants: this.grants,
      connectors: this.connectors,
      logger: this.logger,
      deadline: performance.now() + b - answerMargin(b === Infinity ? 0 : b),
      denied: (kind, what, why) => this.#denied(kind, what, why),
    };
  }

  #drop(id: unknown): undefined {
    const h = this.#handles.get(id as number);
    if (!h) return undefined;
    this.#handles.delete(id as number);
    try {
      void Promise.resolve(h.resource.handlers.close(h.value, { connectors: this.connectors })).catch(() => undefined);
    } catch {
      /* best effort: the handle is gone either way */
    }
    return undefined;
  }

  #denied(kind: string, what: string, why?: string): WitError {
    const denied = deniedError(this.component, kind, what, why);
    this.logger.warn({ component: this.component, capability: kind, target: what }, denied.log);
    return denied.error;
  }
}
