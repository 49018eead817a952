/**
 * What the universal API reads from the runtime for metadata and health: identity, components, readiness,
 * subscriptions. The runtime (`runtime.ts`) implements it.
 */
import type { ComponentRegistry } from '../../components/registry.js';
import type { Subscription } from '../../blocks/pubsub/subscription.js';

/** The app-health settings in force (`--enable-app-health-check` and its flags). */
export interface AppHealthProperties {
  readonly healthCheckPath: string;
  /** In milliseconds. */
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly threshold: number;
}

/** How the sidecar reaches the app (`--app-port` given). */
export interface AppConnection {
  readonly port: number;
  readonly protocol: string;
  readonly channelAddress: string;
  /** Present when app health checks are on. */
  readonly health?: AppHealthProperties;
}

/** The runtime as metadata and health read it. */
export interface RuntimeView {
  /** The sidecar's app id (`--app-id`). */
  readonly appId: string;
  readonly runtimeVersion: string;
  readonly registry: ComponentRegistry;
  /** App-set metadata (`setMetadata`), kept in memory for the process's life. */
  readonly extended: Map<string, string>;
  readonly appConnection?: AppConnection;
  /** Components loaded and API servers listening. */
  outboundReady(): boolean;
  /** Outbound ready and, with an app port, the app reachable (and its subscriptions established). */
  ready(): boolean;
  notReadyTargets(): string[];
  /**
   * Begins a graceful stop of the sidecar (the `Shutdown` API), after the current call is answered; `force`:
   * the process exits with code 1 after 100 ms instead, as daprd's `dapr-force-shutdown: true`.
   */
  requestShutdown(force?: boolean): void;
  /** Subscriptions in force (declarative and programmatic). */
  subscriptions(): Subscription[];
}
