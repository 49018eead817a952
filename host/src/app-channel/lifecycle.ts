/**
 * The app's lifecycle as the sidecar sees it (daprd `initRuntime` from `blockUntilAppIsReady` on, and
 * `appHealthChanged`), in this order:
 *
 * 1. dial the app port every 100 ms until it accepts a connection (a Wasm workload under `mortar up`: wait
 *    until it serves, `WorkloadApp.whenServing`);
 * 2. with app health checks on, probe at once and wait for the first healthy probe;
 * 3. `GET /dapr/config`, read and logged (off with `--disable-init-endpoints config`);
 * 4. `GET /dapr/subscribe`, retried while it fails (off with `--disable-init-endpoints subscribe`), and start
 *    delivering, declarative subscriptions included, then wait (bounded) until they are established at
 *    their brokers;
 * 5. start every registered `AppConsumer` (input bindings), in registration order.
 *
 * It holds the readiness `/v1.0/healthz` reads (`ready`, `notReadyTargets`). While the health checks find
 * the app unhealthy, the channel is `paused()`: delivery loops and consumers fetch nothing until it is
 * healthy again.
 */
import { createConnection } from 'node:net';
import type { Logger } from '../logger.js';
import { fromAppResponse, type Subscription } from '../blocks/pubsub/subscription.js';
import { SUBSCRIBE_READY_TIMEOUT_MS } from '../blocks/pubsub/pubsub-service.js';
import { AppChannel } from './http-channel.js';
import { GrpcAppChannel } from './grpc-channel.js';
import { type WorkloadApp, WorkloadAppChannel } from './workload-channel.js';
import type { AppTarget } from '../blocks/app-target.js';
import { AppHealth } from './health.js';
import type { AppHealthConfig, InitEndpoint } from '../config.js';
import { parseAppConfig, type AppConfig } from './app-config.js';

export { INIT_ENDPOINTS, type InitEndpoint } from '../config.js';

/**
 * Something that calls the app once it is ready and healthy, started after the app's subscriptions
 * (daprd's input bindings: `StartReadingFromBindings` follows `StartAppSubscriptions`).
 */
export interface AppConsumer {
  /** For log lines (e.g. `input bindings`). */
  readonly name: string;
  /**
   * Called once, after step 4 (or at once when registered later). `app` is the channel to call the app
   * with (`request`; input bindings send their OPTIONS probe with it); `app.paused()` says when to stop
   * fetching. A rejection is logged; the app channel goes on.
   */
  start(app: AppTarget): Promise<void>;
  /** Called once at shutdown, before the channel closes; in-flight calls to the app may finish. */
  stop(): Promise<void>;
}

/** Where the lifecycle hands the app's subscriptions (the pub/sub block). */
export interface SubscriptionSink {
  setProgrammatic(subs: Subscription[], app: AppTarget): void;
  whenEstablished(timeoutMs?: number): Promise<string[]>;
  subscriptions(): Subscription[];
}

/** How to reach the app, what to do at start, and where its subscriptions go. */
export interface AppLifecycleOptions {
  readonly host: string;
  readonly port: number;
  readonly appId: string;
  /** `APP_API_TOKEN`. */
  readonly appToken?: string;
  /** `--app-protocol`: `grpc` calls the app's `AppCallback` (grpc-channel.ts); anything else HTTP. */
  readonly protocol?: string;
  /**
   * The app is a Wasm workload (`mortar up`): calls go to its handler in process (workload-channel.ts), made as
   * the HTTP channel makes them; `host`, `port` and `protocol` are not used.
   */
  readonly workload?: WorkloadApp;
  /** Set with `--enable-app-health-check`. */
  readonly health?: AppHealthConfig;
  readonly disableInitEndpoints: readonly InitEndpoint[];
  readonly pubsub: SubscriptionSink;
  readonly logger: Logger;
}

/** Deadline of each init call (`/dapr/config`, `/dapr/subscribe`). */
const INIT_CALL_TIMEOUT_MS = 5000;
/** Attempts at `GET /dapr/subscribe` before going on without programmatic subscriptions. */
const SUBSCRIBE_ATTEMPTS = 5;
const DIAL_EVERY_MS = 100;
/** How the gRPC channel's health probe is named in log lines. */
const GRPC_HEALTH_PROBE = 'AppCallbackHealthCheck/HealthCheck';

/** The app's lifecycle and channel (see the module comment); one per runtime with `--app-port`. */
export class AppLifecycle {
  readonly channel: AppChannel | GrpcAppChannel | WorkloadAppChannel;
  readonly health?: AppHealth;
  readonly #o: AppLifecycleOptions;
  readonly #consumers: AppConsumer[] = [];
  #reachable = false;
  /** Its subscriptions are established at their brokers (or the bounded wait for them ended). */
  #subscribed = false;
  /** Consumers are started (step 5 reached): later registrations start at once. */
  #consuming = false;
  #stopping = false;
  #appConfig?: AppConfig;
  /** Resolves when `stop` is called (ends the wait for a workload to serve). */
  readonly #stopped: Promise<void>;
  #stop!: () => void;

  constructor(opts: AppLifecycleOptions) {
    this.#o = opts;
    this.#stopped = new Promise((resolve) => {
      this.#stop = resolve;
    });
    const target = { host: opts.host, port: opts.port, appId: opts.appId, appToken: opts.appToken };
    const channel = opts.workload
      ? new WorkloadAppChannel(opts.workload, { appId: opts.appId, appToken: opts.appToken })
      : opts.protocol === 'grpc'
        ? new GrpcAppChannel(target)
        : new AppChannel(target);
    this.channel = channel;
    if (opts.health) {
      const { path, timeoutMs } = opts.health;
      this.health = new AppHealth(
        opts.health,
        channel instanceof GrpcAppChannel
          ? () => channel.healthCheck(timeoutMs)
          : async () => {
              const res = await channel.request('GET', path, undefined, {}, timeoutMs);
              return res.status >= 200 && res.status <= 299;
            },
        opts.logger,
        channel instanceof GrpcAppChannel ? GRPC_HEALTH_PROBE : undefined,
      );
      this.channel.useHealth(this.health);
    }
  }

  /** The configuration the app gave at `GET /dapr/config`, once read. */
  get appConfig(): AppConfig | undefined {
    return this.#appConfig;
  }

  /**
   * The app's part of `/v1.0/healthz`: its port accepts connections and, without app health checks, its
   * subscriptions are established (daprd marks its runtime ready after starting them). With health checks,
   * as daprd, readiness does not wait for the app to be healthy: subscriptions start when it first is,
   * and an unhealthy app pauses deliveries without making the sidecar unready.
   */
  ready(): boolean {
    return this.#reachable && (this.health !== undefined || this.#subscribed);
  }

  /** The readiness targets not yet ready (`app`, `subscriptions`), for `ERR_HEALTH_NOT_READY`. */
  notReadyTargets(): string[] {
    if (!this.#reachable) return ['app'];
    return this.ready() ? [] : ['subscriptions'];
  }

  /** Registers a consumer started after the subscriptions (see `AppConsumer`); at once if they already are. */
  register(consumer: AppConsumer): void {
    this.#consumers.push(consumer);
    if (this.#consuming && !this.#stopping) void this.#startConsumer(consumer);
  }

  /** Runs steps 1 to 5 in the background; returns at once. */
  start(): void {
    void this.#run().catch((err: unknown) => {
      this.#o.logger.error({ err: (err as Error).message }, `app channel: ${(err as Error).message}`);
    });
  }

  /** Stops the health checks and the consumers; the channel stays open for deliveries still in flight. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stop();
    this.health?.stop();
    const started = this.#consuming ? this.#consumers : [];
    await Promise.all(
      started.map((c) =>
        c.stop().catch((err: unknown) => {
          this.#o.logger.warn({ consumer: c.name, err: (err as Error).message }, `${c.name}: stopping failed: ${(err as Error).message}`);
        }),
      ),
    );
  }

  /** Closes the channel's connections (after `stop` and after the delivery loops stopped). */
  close(): void {
    this.channel.close();
  }

  async #run(): Promise<void> {
    const { logger, port, health } = this.#o;
    if (this.#o.workload) {
      await Promise.race([this.#o.workload.whenServing(), this.#stopped]);
      if (this.#stopping) return;
      this.#reachable = true;
      logger.info('the workload serves: calling it as the app (its configuration, subscriptions, deliveries)');
    } else {
      if (!(await this.#dial())) return;
      this.#reachable = true;
      logger.info({ port }, `app is reachable on port ${port}`);
    }
    if (this.health && health) {
      this.health.start();
      if (!this.health.healthy()) {
        logger.info(
          { path: health.path },
          `waiting for the app to report healthy on ${this.health.probeName} before reading its configuration and subscriptions`,
        );
      }
      await this.health.whenHealthy();
      if (this.#stopping) return;
    }
    // Over gRPC there is no `/dapr/config` (AppCallback has no such method).
    if (!this.#o.disableInitEndpoints.includes('config') && !(this.channel instanceof GrpcAppChannel)) await this.#readConfig();
    if (this.#stopping) return;
    const subs = this.#o.disableInitEndpoints.includes('subscribe') ? [] : await this.#readSubscriptions();
    if (this.#stopping) return;
    this.#o.pubsub.setProgrammatic(subs, this.channel);
    const t0 = performance.now();
    const missing = await this.#o.pubsub.whenEstablished(SUBSCRIBE_READY_TIMEOUT_MS);
    if (this.#stopping) return;
    const ms = Math.round(performance.now() - t0);
    if (missing.length > 0) {
      logger.warn(
        { subscriptions: missing, ms },
        `ready without ${missing.join(', ')}: not established at the broker within ${ms}ms; retrying (messages published to them meanwhile may not be delivered)`,
      );
    } else {
      logger.info({ subscriptions: this.#o.pubsub.subscriptions().length, ms }, `subscriptions established at their brokers in ${ms}ms; ready`);
    }
    this.#subscribed = true;
    this.#consuming = true;
    for (const c of [...this.#consumers]) await this.#startConsumer(c);
  }

  /** Dials the app port every 100 ms until it accepts a connection, as daprd does before reading app config. */
  async #dial(): Promise<boolean> {
    while (!this.#stopping) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = createConnection({ host: this.#o.host, port: this.#o.port });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return true;
      await new Promise((r) => setTimeout(r, DIAL_EVERY_MS));
    }
    return false;
  }

  /** `GET /dapr/config` (daprd `GetAppConfig`): a 200 is read and logged; any other answer is ignored. */
  async #readConfig(): Promise<void> {
    const { logger } = this.#o;
    let res;
    try {
      res = await (this.channel as AppChannel | WorkloadAppChannel).request(
        'GET',
        '/dapr/config',
        undefined,
        { 'dapr-app-id': this.#o.appId },
        INIT_CALL_TIMEOUT_MS,
      );
    } catch (err) {
      logger.warn({ err: (err as Error).message }, `GET /dapr/config failed: ${(err as Error).message}; going on without app configuration`);
      return;
    }
    if (res.status !== 200) {
      logger.debug({ status: res.status }, `GET /dapr/config answered ${res.status}: no app configuration`);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch {
      body = undefined;
    }
    const { config, problems } = parseAppConfig(body);
    for (const p of problems) logger.warn({ reason: p }, `GET /dapr/config: ${p}`);
    this.#appConfig = config;
    const actors = config.entities.length > 0 ? `actor types ${config.entities.join(', ')} (mortar serves no actors: not registered)` : 'no actor types';
    logger.info({ entities: config.entities }, `GET /dapr/config: app configuration read: ${actors}`);
  }

  /**
   * `GET /dapr/subscribe`, retried while it fails: the app's programmatic subscriptions (a 404 or any other
   * status: none).
   */
  async #readSubscriptions(): Promise<Subscription[]> {
    const { logger } = this.#o;
    const headers = { 'dapr-app-id': this.#o.appId, 'content-type': 'application/json' };
    const channel = this.channel;
    for (let attempt = 1; !this.#stopping; attempt++) {
      try {
        if (channel instanceof GrpcAppChannel) {
          const parsed = await channel.listSubscriptions(INIT_CALL_TIMEOUT_MS);
          for (const p of parsed.problems) logger.warn({ reason: p }, `ListTopicSubscriptions: ${p}`);
          return parsed.subscriptions;
        }
        const res = await this.channel.request('GET', '/dapr/subscribe', undefined, headers, INIT_CALL_TIMEOUT_MS);
        if (res.status === 200) {
          let body: unknown;
          try {
            body = JSON.parse(res.body.toString('utf8'));
          } catch {
            body = undefined;
          }
          const parsed = fromAppResponse(body);
          for (const p of parsed.problems) logger.warn({ reason: p }, `GET /dapr/subscribe: ${p}`);
          return parsed.subscriptions;
        }
        if (res.status !== 404) logger.warn({ status: res.status }, `GET /dapr/subscribe answered ${res.status}; no programmatic subscriptions`);
        return [];
      } catch (err) {
        if (attempt >= SUBSCRIBE_ATTEMPTS) {
          logger.warn({ err: (err as Error).message }, 'GET /dapr/subscribe failed; no programmatic subscriptions');
          return [];
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    return [];
  }

  async #startConsumer(c: AppConsumer): Promise<void> {
    try {
      await c.start(this.channel);
    } catch (err) {
      this.#o.logger.error({ consumer: c.name, err: (err as Error).message }, `${c.name}: could not start: ${(err as Error).message}`);
    }
  }
}
