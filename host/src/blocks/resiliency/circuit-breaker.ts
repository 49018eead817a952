/**
 * A circuit breaker as Dapr's resiliency runs one (sony/gobreaker semantics): closed, it counts outcomes and
 * opens when `trip` holds; open, it refuses work until `timeout` has passed; half-open, it lets `maxRequests`
 * trial requests through, closing after that many successes and opening again on any failure.
 */
import { compileTrip, type CircuitBreakerSpec } from '../../resources/resiliency-resource.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #trip: ReturnType<typeof compileTrip>;
  #state: BreakerState = 'closed';
  /** closed: when counts are cleared next (interval); open: when it turns half-open. */
  #expiry = 0;
  #requests = 0;
  #totalSuccesses = 0;
  #totalFailures = 0;
  #consecutiveSuccesses = 0;
  #consecutiveFailures = 0;

  constructor(
    readonly name: string,
    readonly spec: CircuitBreakerSpec,
    private readonly now: () => number = Date.now,
  ) {
    this.#trip = compileTrip(spec.trip);
    this.#toState('closed');
  }

  get state(): BreakerState {
    this.#tick();
    return this.#state;
  }

  /** Milliseconds until an open breaker lets a trial request through (0 unless open). */
  openForMs(): number {
    return this.state === 'open' ? Math.max(0, this.#expiry - this.now()) : 0;
  }

  /** Takes a slot for one request; false when the breaker refuses it (open, or half-open and full). */
  allow(): boolean {
    this.#tick();
    if (this.#state === 'open') return false;
    if (this.#state === 'half-open' && this.#requests >= this.spec.maxRequests) return false;
    this.#requests++;
    return true;
  }

  /** Reports the outcome of a request `allow()` let through. */
  record(success: boolean): void {
    this.#tick();
    if (success) {
      this.#totalSuccesses++;
      this.#consecutiveSuccesses++;
      this.#consecutiveFailures = 0;
      if (this.#state === 'half-open' && this.#consecutiveSuccesses >= this.spec.maxRequests) this.#toState('closed');
      return;
    }
    this.#totalFailures++;
    this.#consecutiveFailures++;
    this.#consecutiveSuccesses = 0;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#tripped())) this.#toState('open');
  }

  #tripped(): boolean {
    try {
      return (
        this.#trip({
          requests: BigInt(this.#requests),
          totalSuccesses: BigInt(this.#totalSuccesses),
          totalFailures: BigInt(this.#totalFailures),
          consecutiveSuccesses: BigInt(this.#consecutiveSuccesses),
          consecutiveFailures: BigInt(this.#consecutiveFailures),
        }) === true
      );
    } catch {
      return false;
    }
  }

  #tick(): void {
    const now = this.now();
    if (this.#state === 'closed' && this.#expiry !== 0 && now >= this.#expiry) this.#toState('closed');
    else if (this.#state === 'open' && now >= this.#expiry) this.#toState('half-open');
  }

  #toState(state: BreakerState): void {
    this.#state = state;
    this.#requests = this.#totalSuccesses = this.#totalFailures = this.#consecutiveSuccesses = this.#consecutiveFailures = 0;
    const now = this.now();
    if (state === 'open') this.#expiry = now + this.spec.timeoutMs;
    else if (state === 'closed') this.#expiry = this.spec.intervalMs > 0 ? now + this.spec.intervalMs : 0;
    else this.#expiry = 0;
  }
}
