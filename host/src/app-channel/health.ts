/**
 * App health checks (`--enable-app-health-check`; daprd `pkg/apphealth`): `GET <path>` every interval,
 * each with its own timeout; a 2xx answer is healthy. The app counts as unhealthy until a probe first
 * succeeds; once healthy, `threshold` consecutive failed probes make it unhealthy, and one successful
 * probe healthy again. Listeners hear every change (the app channel pauses deliveries while unhealthy).
 */
import type { Logger } from '../logger.js';
import type { HealthSignal } from './health-gate.js';
import type { AppHealthConfig } from '../config.js';

export { APP_HEALTH_DEFAULTS, type AppHealthConfig } from '../config.js';

/** One probe: resolves true for a healthy answer, false (or rejects) otherwise. */
export type Probe = () => Promise<boolean>;

/** The health checks of one app; see the module comment. */
export class AppHealth implements HealthSignal {
  readonly #listeners = new Set<(healthy: boolean) => void>();
  /** `whenHealthy` callers still waiting. */
  readonly #waiters = new Set<() => void>();
  readonly #threshold: number;
  /** Consecutive failed probes; starts at the threshold: unhealthy until a probe succeeds. */
  #failures: number;
  #timer?: NodeJS.Timeout;
  #probing = false;
  #stopped = false;
  #lastError = '';

  /**
   * `probeName` names the probe in log lines: `GET <path>` for an HTTP app (the default), the gRPC method for
   * a gRPC one.
   */
  constructor(
    readonly config: AppHealthConfig,
    readonly probe: Probe,
    readonly logger: Logger,
    readonly probeName = `GET ${config.path}`,
  ) {
    this.#threshold = Math.max(1, config.threshold);
    this.#failures = this.#threshold;
  }

  healthy(): boolean {
    return this.#failures < this.#threshold;
  }

  onChange(listener: (healthy: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Probes at once, then every interval, until `stop`. */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.#probeOnce(), this.config.intervalMs);
    this.#timer.unref();
    void this.#probeOnce();
  }

  /** Resolves once the app is healthy (at once if it is), or once the checks stop. */
  whenHealthy(): Promise<void> {
    if (this.healthy() || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#listeners.clear();
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** One probe; a probe still running when the next is due makes that one skipped, not doubled. */
  async #probeOnce(): Promise<void> {
    if (this.#probing || this.#stopped) return;
    this.#probing = true;
    let ok: boolean;
    try {
      ok = await this.probe();
      if (!ok) this.#lastError = 'not a 2xx answer';
    } catch (err) {
      ok = false;
      this.#lastError = (err as Error).message;
    } finally {
      this.#probing = false;
    }
    if (this.#stopped) return;
    this.#record(ok);
  }

  #record(ok: boolean): void {
    const { path } = this.config;
    const probe = this.probeName;
    if (ok) {
      const was = this.#failures;
      this.#failures = 0;
      if (was >= this.#threshold) {
        this.logger.info({ path }, `app is healthy (${probe} answered ${probe.startsWith('GET ') ? '2xx' : 'OK'}): deliveries to it run`);
        this.#emit(true);
      }
      return;
    }
    // Bounded, so a long outage cannot overflow the count.
    this.#failures = Math.min(this.#failures + 1, this.#threshold + 1);
    if (this.#failures === this.#threshold) {
      this.logger.warn(
        { path, failures: this.#threshold, err: this.#lastError },
        `app is unhealthy: ${this.#threshold} consecutive ${probe} probes failed (last: ${this.#lastError}); deliveries to it are paused`,
      );
      this.#emit(false);
    } else {
      this.logger.debug({ path, err: this.#lastError }, `app health probe ${probe} failed: ${this.#lastError}`);
    }
  }

  #emit(healthy: boolean): void {
    if (healthy) {
      for (const w of this.#waiters) w();
      this.#waiters.clear();
    }
    for (const l of [...this.#listeners]) l(healthy);
  }
}
