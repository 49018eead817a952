/**
 * Whether deliveries to the app wait for its health (`AppTarget.paused`), the same for both channels: the app
 * lifecycle hands the channel its `AppHealth` once (`useHealth`), and from then on deliveries pause while the
 * health checks find the app unhealthy. Without health checks they never pause.
 */

/** What a channel knows of the app's health: `AppHealth` when `--enable-app-health-check` is given. */
export interface HealthSignal {
  /** The last verdict of the health checks (false before the first probe succeeded). */
  healthy(): boolean;
  /** Calls `listener` on every change of verdict; returns the function that stops it. */
  onChange(listener: (healthy: boolean) => void): () => void;
}

/** The part of an app channel that follows the app's health; the HTTP and gRPC channels extend it. */
export abstract class HealthGate {
  #health?: HealthSignal;

  /** Follows the app's health checks from now on (set once, by the app lifecycle). */
  useHealth(health: HealthSignal): void {
    this.#health = health;
  }

  /**
   * True while deliveries to the app wait: its health checks are on and find it unhealthy. Pub/sub delivery
   * loops and input bindings fetch nothing then; messages stay at the broker. Without health checks: never.
   */
  paused(): boolean {
    return this.#health !== undefined && !this.#health.healthy();
  }
}
