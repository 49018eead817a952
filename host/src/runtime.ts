/**
 * The composition root: the only module that wires implementations together.
 */
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RuntimeConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { TranspileCache } from './components/transpile-cache.js';
import { prebuiltRoot } from './components/prebuild.js';
import { ComponentLoader } from './components/component-types.js';
import { ComponentRegistry } from './components/registry.js';
import { Discovery } from './components/discovery.js';
import type { ComponentResource } from './components/resources.js';
import { CapabilityThread } from './capabilities/capability-thread.js';
import { StateService } from './blocks/state/state-service.js';
import { PubSubService, SUBSCRIBE_READY_TIMEOUT_MS } from './blocks/pubsub/pubsub-service.js';
import { Resiliency } from './blocks/resiliency/resiliency.js';
import { BindingsService } from './blocks/bindings/bindings-service.js';
import { InputBindings } from './blocks/bindings/input-bindings.js';
import { fromAppResponse, type Subscription } from './blocks/pubsub/subscription.js';
import { AppChannel } from './app-channel.js';
import { createHttpApi } from './api/http/server.js';
import { listenOnAll, type Listening } from './api/http/listen.js';
import type { RuntimeView } from './api/http/metadata.js';
import { sidecarId } from './sidecar-id.js';

export const RUNTIME_VERSION = '0.1.0';

/** Where `npm run build` puts the built-in components. */
export const BUILTIN_DIR = fileURLToPath(new URL('../../components/', import.meta.url));

/**
 * The components used when no `--resources-path` is given, needing no server: a durable `statestore`
 * and an in-process `pubsub`.
 */
export function defaultResources(): ComponentResource[] {
  return [{
    kind: 'Component', name: 'statestore', type: 'state.sqlite', version: 'v1',
    metadata: { connectionString: 'state.db', actorStateStore: 'true' }, scopes: [], ignoreErrors: false, file: '(embedded default)',
  }, {
    kind: 'Component', name: 'pubsub', type: 'pubsub.in-memory', version: 'v1', metadata: {}, scopes: [], ignoreErrors: false, file: '(embedded default)',
  }];
}

export class Runtime implements RuntimeView {
  readonly logger: Logger;
  readonly registry: ComponentRegistry;
  readonly discovery: Discovery;
  readonly state: StateService;
  readonly pubsub: PubSubService;
  readonly resiliency: Resiliency;
  readonly bindings: BindingsService;
  /** Input bindings read for the app (started after its subscriptions, as daprd starts them). */
  readonly inputBindings: InputBindings;
  readonly extended = new Map<string, string>();
  readonly runtimeVersion = RUNTIME_VERSION;
  readonly appConnection?: { port: number; protocol: string; channelAddress: string };
  /** Told when the runtime can no longer serve (the process should stop and be restarted). */
  onFatal?: (why: string) => void;
  readonly #capabilities: CapabilityThread;
  #http?: FastifyInstance;
  #listening?: Listening;
  #app?: AppChannel;
  #outbound = false;
  #appReachable = false;
  /** With an app: its subscriptions are established at their brokers (or the bounded wait for them ended). */
  #subscribed = false;
  #stopping?: Promise<void>;

  constructor(readonly config: RuntimeConfig, logger?: Logger) {
    this.logger = logger ?? createLogger(config.logLevel, config.appId);
    this.#capabilities = new CapabilityThread(config.dataDir, this.logger, (why) => {
      this.logger.fatal({ reason: why }, `${why}: components can no longer reach their backends`);
      this.onFatal?.(why);
    });
    // Built-ins come transpiled from the build (`prebuild.ts`); only user components are transpiled here.
    const cache = new TranspileCache(join(config.dataDir, 'cache'), [prebuiltRoot(BUILTIN_DIR)]);
    const loader = new ComponentLoader(cache, this.logger, config.componentCallTimeoutMs, config.componentMemoryBytes);
    this.registry = new ComponentRegistry({
      appId: config.appId, capabilities: this.#capabilities, logger: this.logger, poolSize: config.instances,
      callTimeoutMs: config.componentCallTimeoutMs, memoryLimitBytes: config.componentMemoryBytes,
    });
    this.resiliency = new Resiliency(config.appId, this.logger);
    this.pubsub = new PubSubService(this.registry, { appId: config.appId, consumer: sidecarId(config.dataDir, config.appId), logger: this.logger, resiliency: this.resiliency });
    this.discovery = new Discovery({
      builtinDirs: [BUILTIN_DIR], resourcePaths: config.resourcePaths, defaults: defaultResources(),
      appId: config.appId, pollMs: config.pollMs, onSubscriptions: (subs) => { this.pubsub.setDeclarative(subs); void this.inputBindings.reconcile(); },
      onResiliency: (resources) => this.resiliency.apply(resources),
    }, loader, this.registry, this.logger);
    this.state = new StateService(this.registry, config.appId, this.resiliency);
    this.bindings = new BindingsService(this.registry, { resiliency: this.resiliency });
    this.inputBindings = new InputBindings(this.registry, { logger: this.logger, resiliency: this.resiliency });
    if (config.appPort !== undefined) {
      this.appConnection = { port: config.appPort, protocol: config.appProtocol, channelAddress: config.appChannelAddress };
    }
  }

  get appId(): string { return this.config.appId; }
  subscriptions(): Subscription[] { return this.pubsub.subscriptions(); }
  outboundReady(): boolean { return this.#outbound; }
  /**
   * `/v1.0/healthz`: the API serves and, with `--app-port`, the app port accepts connections and every
   * subscription (declarative and from `GET /dapr/subscribe`) exists at its broker, as daprd marks its
   * runtime ready only after starting the app's subscriptions. The wait for brokers is bounded
   * (`SUBSCRIBE_READY_TIMEOUT_MS`).
   */
  ready(): boolean { return this.#outbound && (this.config.appPort === undefined || (this.#appReachable && this.#subscribed)); }
  notReadyTargets(): string[] {
    const t: string[] = [];
    if (!this.#outbound) t.push('runtime');
    if (this.config.appPort !== undefined && !this.#appReachable) t.push('app');
    else if (this.config.appPort !== undefined && !this.#subscribed) t.push('subscriptions');
    return t;
  }

  /** Loads components, then serves the HTTP API. Resolves once the API listens. */
  async start(): Promise<void> {
    const t0 = performance.now();
    await this.discovery.start();
    this.#http = createHttpApi({
      runtime: this, state: this.state, pubsub: this.pubsub, bindings: this.bindings, logger: this.logger, maxBodyBytes: this.config.maxBodyBytes, apiToken: this.config.apiToken,
    });
    const hosts = this.config.listenAddresses.length > 0 ? this.config.listenAddresses : ['127.0.0.1'];
    this.#listening = await listenOnAll(this.#http, this.config.httpPort, hosts, this.logger);
    this.#outbound = true;
    const names = this.registry.list().map((c) => `${c.name} (${c.resource.type})`).join(', ') || 'none';
    this.logger.info({ port: this.config.httpPort, components: this.registry.list().length, ms: Math.round(performance.now() - t0) },
      `mortar ${RUNTIME_VERSION} ready for app '${this.config.appId}': HTTP API on ${this.#listening.addresses.join(', ')}; components: ${names}`);
    if (this.config.appPort !== undefined) void this.#waitForApp();
  }

  /** Dials the app port every 100 ms until it accepts a connection, as daprd does before reading app config. */
  async #waitForApp(): Promise<void> {
    while (!this.#stopping) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = createConnection({ host: this.config.appChannelAddress, port: this.config.appPort! });
        s.once('connect', () => { s.destroy(); resolve(true); });
        s.once('error', () => resolve(false));
      });
      if (ok) {
        this.#appReachable = true;
        this.logger.info({ port: this.config.appPort }, `app is reachable on port ${this.config.appPort}`);
        await this.#startAppChannel();
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Once the app listens: read its programmatic subscriptions (`GET /dapr/subscribe`, retried while it
   * fails), start delivering, declarative subscriptions included, and become ready once they are all
   * established at their brokers (or `SUBSCRIBE_READY_TIMEOUT_MS` has passed).
   */
  async #startAppChannel(): Promise<void> {
    const app = new AppChannel({ host: this.config.appChannelAddress, port: this.config.appPort!, appId: this.config.appId, appToken: this.config.appToken });
    this.#app = app;
    const headers = { 'dapr-app-id': this.config.appId, 'content-type': 'application/json' };
    let subs: Subscription[] = [];
    for (let attempt = 1; !this.#stopping; attempt++) {
      try {
        const res = await app.request('GET', '/dapr/subscribe', undefined, headers, 5000);
        if (res.status === 200) {
          let body: unknown;
          try { body = JSON.parse(res.body.toString('utf8')); } catch { body = undefined; }
          const parsed = fromAppResponse(body);
          for (const p of parsed.problems) this.logger.warn({ reason: p }, `GET /dapr/subscribe: ${p}`);
          subs = parsed.subscriptions;
        } else if (res.status !== 404) {
          this.logger.warn({ status: res.status }, `GET /dapr/subscribe answered ${res.status}; no programmatic subscriptions`);
        }
        break;
      } catch (err) {
        if (attempt >= 5) {
          this.logger.warn({ err: (err as Error).message }, 'GET /dapr/subscribe failed; no programmatic subscriptions');
          break;
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    if (this.#stopping) return;
    this.pubsub.setProgrammatic(subs, app);
    const t0 = performance.now();
    const missing = await this.pubsub.whenEstablished(SUBSCRIBE_READY_TIMEOUT_MS);
    if (this.#stopping) return;
    const ms = Math.round(performance.now() - t0);
    if (missing.length > 0) {
      this.logger.warn({ subscriptions: missing, ms }, `ready without ${missing.join(', ')}: not established at the broker within ${ms}ms; retrying (messages published to them meanwhile may not be delivered)`);
    } else {
      this.logger.info({ subscriptions: this.pubsub.subscriptions().length, ms }, `subscriptions established at their brokers in ${ms}ms; ready`);
    }
    this.#subscribed = true;
    await this.inputBindings.start(app);
  }

  /** Stops accepting requests, lets in-flight calls finish, then releases components and connections. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#outbound = false;
      await this.discovery.stop();
      if (this.#http) {
        // In-flight requests finish; keep-alive connections are closed as soon as they fall idle, and
        // whatever is still open at the graceful deadline is cut.
        this.#listening?.close();
        const server = this.#http.server;
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), this.config.gracefulShutdownSeconds * 1000);
        try {
          await this.#http.close();
        } finally {
          clearInterval(sweep);
          clearTimeout(deadline);
        }
      }
      await this.pubsub.close();
      await this.inputBindings.close();
      this.#app?.close();
      await this.registry.close();
      await this.#capabilities.close();
    })();
    return this.#stopping;
  }

  /** The address the HTTP API listens on (useful with port 0 in tests). */
  httpAddress(): string | undefined {
    const a = this.#http?.server.address();
    return a && typeof a === 'object' ? `http://127.0.0.1:${a.port}` : undefined;
  }
}
