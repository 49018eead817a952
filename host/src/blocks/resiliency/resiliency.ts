/**
 * Resiliency as Dapr applies it: which policy governs an operation on a component, from the `Resiliency`
 * resources in force. A component named under `spec.targets.components` uses the policies named there;
 * for what it does not name, the default policies apply, most specific first:
 * `Default<Block>Component<Direction><Kind>Policy`, `DefaultComponent<Direction><Kind>Policy`,
 * `DefaultComponent<Kind>Policy`, `Default<Kind>Policy` (Kind: Retry, Timeout, CircuitBreaker).
 *
 * Circuit breakers keep their counts per target across reloads of the resources, as long as the
 * breaker's definition does not change.
 */
import type { Logger } from '../../logger.js';
import { parseDuration } from '../../duration.js';

/** What `Resiliency.outbound` needs of a component: its name and its pool's call timeout. */
export interface OutboundTarget {
  readonly name: string;
  readonly pool: { callTimeout(policyTimeoutMs?: number): number };
}
import type { CircuitBreakerSpec, ResiliencyResource, RetrySpec } from '../../resources/resiliency-resource.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { Policy } from './policy.js';

export type Direction = 'inbound' | 'outbound';

/** Dapr's keyword for each building block in default policy names. */
const BLOCK_KEYWORD: Readonly<Record<string, string>> = {
  state: 'Statestore',
  pubsub: 'Pubsub',
  bindings: 'Binding',
  secretstores: 'Secretstore',
  configuration: 'Configuration',
  lock: 'Lock',
};

/** What a caller uses when no resource sets a part (e.g. the pub/sub delivery's built-in retry). */
export interface Fallback {
  readonly retry?: RetrySpec;
  readonly timeoutMs?: number;
}

type Kind = 'Retry' | 'Timeout' | 'CircuitBreaker';

export class Resiliency {
  #resources: ResiliencyResource[] = [];
  /** Resolved policies by component, block and direction (no key strings built on the hot path). */
  #policies = new Map<string, Map<string, Map<Direction, Policy>>>();
  #breakers = new Map<string, CircuitBreaker>();
  #signature = '';

  constructor(
    readonly appId: string,
    readonly logger?: Logger,
  ) {}

  /** The Resiliency resources found (all of them: those scoped to other apps are skipped here). */
  apply(resources: readonly ResiliencyResource[]): void {
    const mine = resources.filter((r) => r.scopes.length === 0 || r.scopes.includes(this.appId));
    const signature = JSON.stringify(mine);
    if (signature === this.#signature) return;
    this.#signature = signature;
    this.#resources = mine;
    this.#policies.clear();
    for (const r of mine) {
      const targets = Object.entries(r.components).map(
        ([name, t]) => `${name} (${[t.inbound && 'inbound', t.outbound && 'outbound'].filter(Boolean).join(', ')})`,
      );
      this.logger?.info(
        {
          resiliency: r.name,
          file: r.file,
          retries: Object.keys(r.retries),
          timeouts: Object.keys(r.timeouts),
          circuitBreakers: Object.keys(r.circuitBreakers),
        },
        `resiliency ${r.name} loaded from ${r.file}: ${Object.keys(r.retries).length} retry, ${Object.keys(r.timeouts).length} timeout, ${Object.keys(r.circuitBreakers).length} circuit breaker policies; component targets: ${targets.join(', ') || 'none'}`,
      );
    }
  }

  /**
   * Runs one outbound call to component `c` of building block `block` under its policy; `op` gets the call's
   * deadline: the policy's timeout, else the component's own call timeout.
   */
  outbound<T>(c: OutboundTarget, block: string, op: (timeoutMs: number) => Promise<T>): Promise<T> {
    const policy = this.component(c.name, block, 'outbound');
    const timeoutMs = c.pool.callTimeout(policy.timeoutMs);
    return policy.run(() => op(timeoutMs));
  }

  /**
   * The policy for `direction` operations on component `name` of building block `block`. `fallback` is the
   * caller's own default for that block and direction (each has one call site); it is resolved with the
   * policy and cached with it until the resources change.
   */
  component(name: string, block: string, direction: Direction, fallback: Fallback = {}): Policy {
    let byBlock = this.#policies.get(name);
    if (!byBlock) this.#policies.set(name, (byBlock = new Map()));
    let byDirection = byBlock.get(block);
    if (!byDirection) byBlock.set(block, (byDirection = new Map()));
    let p = byDirection.get(direction);
    if (!p) {
      const key = `${name}\u0000${block}\u0000${direction}`;
      const retry = this.#find('Retry', name, block, direction, (r, n) => r.retries[n]) ?? fallback.retry;
      const timeoutMs = this.#find('Timeout', name, block, direction, (r, n) => r.timeouts[n] ?? parseDuration(n)) ?? fallback.timeoutMs;
      const breakerDef = this.#find('CircuitBreaker', name, block, direction, (r, n) =>
        r.circuitBreakers[n] ? { name: n, spec: r.circuitBreakers[n]! } : undefined,
      );
      p =
        retry === undefined && timeoutMs === undefined && breakerDef === undefined
          ? Policy.NONE
          : new Policy(retry, timeoutMs, breakerDef && this.#breaker(key, breakerDef));
      byDirection.set(direction, p);
    }
    return p;
  }

  #breaker(target: string, def: { name: string; spec: CircuitBreakerSpec }): CircuitBreaker {
    const key = `${target}\u0000${def.name}\u0000${JSON.stringify(def.spec)}`;
    let b = this.#breakers.get(key);
    if (!b) {
      for (const k of this.#breakers.keys()) if (k.startsWith(`${target}\u0000`)) this.#breakers.delete(k);
      this.#breakers.set(key, (b = new CircuitBreaker(def.name, def.spec)));
    }
    return b;
  }

  #find<T>(kind: Kind, name: string, block: string, direction: Direction, lookup: (r: ResiliencyResource, policy: string) => T | undefined): T | undefined {
    const field = kind === 'Retry' ? 'retry' : kind === 'Timeout' ? 'timeout' : 'circuitBreaker';
    for (const r of this.#resources) {
      const ref = r.components[name]?.[direction]?.[field];
      if (ref !== undefined) return lookup(r, ref);
    }
    const dir = direction === 'inbound' ? 'Inbound' : 'Outbound';
    const defaults = [
      `Default${BLOCK_KEYWORD[block] ?? ''}Component${dir}${kind}Policy`,
      `DefaultComponent${dir}${kind}Policy`,
      `DefaultComponent${kind}Policy`,
      `Default${kind}Policy`,
    ];
    for (const d of defaults) {
      for (const r of this.#resources) {
        const found = kind === 'Retry' ? r.retries[d] : kind === 'Timeout' ? r.timeouts[d] : r.circuitBreakers[d];
        if (found !== undefined) return lookup(r, d);
      }
    }
    return undefined;
  }
}
