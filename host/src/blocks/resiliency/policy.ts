/**
 * The resiliency policy in force for one target: its retry, timeout and circuit breaker, any of which may
 * be absent. `run` applies all three to an outbound operation; the pub/sub delivery loop uses the parts.
 */
import type { RetrySpec } from '../../resources/resiliency-resource.js';
import { Backoff } from './backoff.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { isPermanent } from './permanent.js';

/** An attempt that took longer than the policy's timeout (the operation itself may still finish). */
export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`timeout after ${ms}ms (resiliency policy)`);
    this.name = 'TimeoutError';
  }
}

/** The target's circuit breaker is open: the operation was not attempted. */
export class CircuitOpenError extends Error {
  constructor(
    readonly breaker: string,
    readonly retryInMs: number,
  ) {
    super(`circuit breaker is open (${breaker}; next trial in ${Math.ceil(retryInMs)}ms)`);
    this.name = 'CircuitOpenError';
  }
}

export class Policy {
  static readonly NONE = new Policy(undefined, undefined, undefined);

  /** True when there is nothing to apply: `run` calls straight through. */
  readonly none: boolean;

  constructor(
    readonly retry: RetrySpec | undefined,
    readonly timeoutMs: number | undefined,
    readonly breaker: CircuitBreaker | undefined,
  ) {
    this.none = retry === undefined && timeoutMs === undefined && breaker === undefined;
  }

  /** A fresh retry schedule for one operation (undefined: no retries). */
  backoff(): Backoff | undefined {
    return this.retry ? new Backoff(this.retry) : undefined;
  }

  /**
   * Runs `op` under the policy (with none, `op` is simply called: no wrapping on the hot path). Errors for
   * which `permanent` holds are the target answering (an ETag mismatch, a bad argument): they are neither
   * retried nor counted against the breaker.
   */
  run<T>(op: () => Promise<T>, permanent: (err: unknown) => boolean = isPermanent): Promise<T> {
    return this.none ? op() : this.#run(op, permanent);
  }

  async #run<T>(op: () => Promise<T>, permanent: (err: unknown) => boolean): Promise<T> {
    const backoff = this.backoff();
    for (;;) {
      let err: unknown;
      if (this.breaker && !this.breaker.allow()) {
        err = new CircuitOpenError(this.breaker.name, this.breaker.openForMs());
      } else {
        try {
          const result = await withTimeout(op(), this.timeoutMs);
          this.breaker?.record(true);
          return result;
        } catch (e) {
          if (permanent(e)) {
            this.breaker?.record(true);
            throw e;
          }
          this.breaker?.record(false);
          err = e;
        }
      }
      const wait = backoff?.next();
      if (wait === undefined) throw err;
      await sleep(wait);
    }
  }
}

/** `p`, or a TimeoutError once `ms` have passed first. */
export function withTimeout<T>(p: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return p;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
