/**
 * The composition root: the only module that wires implementations together. It builds the blocks, the
 * universal API over them, the app channel and the API servers (HTTP and gRPC), and stops them in order.
 */
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
import type { ComponentResource } from './resources/resources.js';
import { CapabilityThread } from './capabilities/capability-thread.js';
import { StateService } from './blocks/state/state-service.js';
import { PubSubService } from './blocks/pubsub/pubsub-service.js';
import { Resiliency } from './blocks/resiliency/resiliency.js';
import type { Subscription } from './blocks/pubsub/subscription.js';
import { BindingsService } from './blocks/bindings/bindings-service.js';
import { InputBindings } from './blocks/bindings/input-bindings.js';
import { AppLifecycle } from './app-channel/lifecycle.js';
import type { WorkloadApp } from './app-channel/workload-channel.js';
import { UniversalApi } from './api/universal/universal-api.js';
import { BindingAppAnswers } from './api/universal/binding-app-answer.js';
import type { AppConnection, RuntimeView } from './api/universal/runtime-view.js';
import { createHttpApi } from './api/http/server.js';
import { listenOnAll, type Listening } from './api/http/listen.js';
import type { GrpcListening } from './api/grpc/server.js';
import { sidecarId } from './sidecar-id.js';

export const RUNTIME_VERSION = '0.1.0';

/** Where `npm run build` puts the built-in components. */
export const BUILTIN_DIR = fileURLToPath(new URL('../../components/', import.meta.url));

/**
 * The components used when no `--resources-path` is given, needing no server: a durable `statestore`
 * and an in-process `pubsub`.
 */
export function defaultResources(): ComponentResource[] {
  return [
    {
      kind: 'Component',
      name: 'statestore',
      type: 'state.sqlite',
      version: 'v1',
      metadata: { connectionString: 'state.db', actorStateStore: 'true' },
      scopes: [],
      ignoreErrors: false,
      file: '(embedded default)',
    },
    {
      kind: 'Component',
      name: 'pubsub',
      type: 'pubsub.in-memory',
      version: 'v1',
      metadata: {},
      scopes: [],
      ignoreErrors: false,
      file: '(embedded default)',
    },
  ];
}

/** What a front end adds to the flags. */
export interface RuntimeOptions {
  /**
   * `mortar up`: the Wasm workload is the app. The app channel calls its handler in process
   * (`app-channel/workload-channel.ts`) as it calls an HTTP app: subscriptions, deliveries, input bindings,
   * health. Not with `--app-port`.
   */
  readonly workload?: WorkloadApp;
}

export class Runtime implements RuntimeView {
  readonly logger: Logger;
  readonly registry: ComponentRegistry;
  readonly discovery: Discovery;
  readonly state: StateService;
  readonly pubsub: PubSubService;
  readonly resiliency: Resiliency;
  /** The API every transport serves (HTTP and gRPC). */
  readonly api: UniversalApi;
  /** With `--app-port` or a workload: the app's lifecycle and channel (input bindings are registered with it, see `AppConsumer`). */
  readonly app?: AppLifecycle;
  readonly bindings: BindingsService;
  /** Input bindings read for the app (started after its subscriptions, as daprd starts them). */
  readonly inputBindings: InputBindings;
  readonly extended = new Map<string, string>();
  readonly runtimeVersion = RUNTIME_VERSION;
  readonly appConnection?: AppConnection;
  /** Told when the runtime can no longer serve (the process should stop and be restarted). */
  onFatal?: (why: string) => void;
  /** Told when the app asked the sidecar to stop (the `Shutdown` API); without it, the runtime just stops. */
  onShutdownRequested?: (force: boolean) => void;
  readonly #capabilities: CapabilityThread;
  #http?: FastifyInstance;
  #listening?: Listening;
  #grpc?: GrpcListening;
  #outbound = false;
  #stopping?: Promise<void>;

  constructor(
    readonly config: RuntimeConfig,
    logger?: Logger,
    options: RuntimeOptions = {},
  ) {
    this.logger = logger ?? createLogger(config.logLevel, config.appId);
    this.#capabilities = new CapabilityThread(config.dataDir, this.logger, (why) => {
      this.logger.fatal({ reason: why }, `${why}: components can no longer reach their backends`);
      this.onFatal?.(why);
    });
    // Built-ins come transpiled from the build (`prebuild.ts`); only user components are transpiled here.
    const cache = new TranspileCache(join(config.dataDir, 'cache'), [prebuiltRoot(BUILTIN_DIR)]);
    const loader = new ComponentLoader(cache, this.logger, config.componentCallTimeoutMs, config.componentMemoryBytes);
    this.registry = new ComponentRegistry({
      appId: config.appId,
      capabilities: this.#capabilities,
      logger: this.logger,
      poolSize: config.instances,
      callTimeoutMs: config.componentCallTimeoutMs,
      memoryLimitBytes: config.componentMemoryBytes,
    });
    this.resiliency = new Resiliency(config.appId, this.logger);
    this.pubsub = new PubSubService(this.registry, {
      appId: config.appId,
      consumer: sidecarId(config.dataDir, config.appId),
      logger: this.logger,
      resiliency: this.resiliency,
    });
    this.discovery = new Discovery(
      {
        builtinDirs: [BUILTIN_DIR],
        resourcePaths: config.resourcePaths,
        defaults: defaultResources(),
        appId: config.appId,
        pollMs: config.pollMs,
        onSubscriptions: (subs) => {
          this.pubsub.setDeclarative(subs);
          void this.inputBindings.reconcile();
        },
        onResiliency: (resources) => this.resiliency.apply(resources),
      },
      loader,
      this.registry,
      this.logger,
    );
    this.state = new StateService(this.registry, this.resiliency);
    this.bindings = new BindingsService(this.registry, { resiliency: this.resiliency });
    this.api = new UniversalApi({ runtime: this, state: this.state, pubsub: this.pubsub, bindings: this.bindings });
    // What an app answers to an input binding event goes through the universal API, as the app's own calls.
    const answers = new BindingAppAnswers(this.api, { appId: config.appId, transport: config.appProtocol === 'grpc' ? 'grpc' : 'http' }, this.logger);
    this.inputBindings = new InputBindings(this.registry, {
      logger: this.logger,
      resiliency: this.resiliency,
      onAppAnswer: (binding, answer) => answers.apply(binding, answer),
    });
    if (config.appPort !== undefined && options.workload) throw new Error('--app-port: the workload is the app under mortar up');
    if (config.appPort !== undefined || options.workload) {
      const h = config.appHealth;
      if (config.appPort !== undefined)
        this.appConnection = {
          port: config.appPort,
          protocol: config.appProtocol,
          channelAddress: config.appChannelAddress,
          health: h && { healthCheckPath: h.path, probeIntervalMs: h.intervalMs, probeTimeoutMs: h.timeoutMs, threshold: h.threshold },
        };
      this.app = new AppLifecycle({
        host: config.appChannelAddress,
        port: config.appPort ?? 0,
        workload: options.workload,
        appId: config.appId,
        appToken: config.appToken,
        protocol: config.appProtocol,
        health: config.appHealth,
        disableInitEndpoints: config.disableInitEndpoints,
        pubsub: this.pubsub,
        logger: this.logger,
      });
      this.app.register({ name: 'input bindings', start: (app) => this.inputBindings.start(app), stop: () => this.inputBindings.close() });
    }
  }

  get appId(): string {
    return this.config.appId;
  }
  subscriptions(): Subscription[] {
    return this.pubsub.subscriptions();
  }
  outboundReady(): boolean {
    return this.#outbound;
  }
  /**
   * `/v1.0/healthz`: the API serves and, with `--app-port`, the app is ready as `AppLifecycle.ready` says
   * (its port accepts connections and, without app health checks, every subscription exists at its broker,
   * as daprd marks its runtime ready only after starting the app's subscriptions; that wait is bounded).
   */
  ready(): boolean {
    return this.#outbound && (this.app === undefined || this.app.ready());
  }
  requestShutdown(force = false): void {
    // After the current call has been answered: the stop closes the servers that answer it.
    setImmediate(() => (this.onShutdownRequested ? this.onShutdownRequested(force) : void this.stop()));
  }
  notReadyTargets(): string[] {
    return [...(this.#outbound ? [] : ['runtime']), ...(this.app?.notReadyTargets() ?? [])];
  }

  /** Loads components, then serves the HTTP and gRPC APIs. Resolves once both listen. */
  async start(): Promise<void> {
    const t0 = performance.now();
    // @grpc/grpc-js loads while the components do, and only for `mortar run`; the gRPC message codecs load
    // once the APIs listen (`protos.ts`).
    const grpcModule = import('./api/grpc/server.js');
    grpcModule.catch(() => undefined);
    await this.discovery.start();
    this.#http = createHttpApi({ api: this.api, logger: this.logger, maxBodyBytes: this.config.maxBodyBytes, apiToken: this.config.apiToken });
    const hosts = this.config.listenAddresses.length > 0 ? this.config.listenAddresses : ['127.0.0.1'];
    this.#listening = await listenOnAll(this.#http, this.config.httpPort, hosts, this.logger);
    const { createGrpcApi, listenGrpc, preloadGrpcCodecs } = await grpcModule;
    const grpcServer = createGrpcApi({ api: this.api, logger: this.logger, maxBodyBytes: this.config.maxBodyBytes, apiToken: this.config.apiToken });
    this.#grpc = await listenGrpc(grpcServer, this.config.grpcPort, hosts);
    this.#outbound = true;
    const names =
      this.registry
        .list()
        .map((c) => `${c.name} (${c.resource.type})`)
        .join(', ') || 'none';
    this.logger.info(
      { port: this.config.httpPort, grpcPort: this.#grpc.port, components: this.registry.list().length, ms: Math.round(performance.now() - t0) },
      `mortar ${RUNTIME_VERSION} ready for app '${this.config.appId}': HTTP API on ${this.#listening.addresses.join(', ')}, gRPC API on ${this.#grpc.addresses.join(', ')}; components: ${names}`,
    );
    this.app?.start();
    preloadGrpcCodecs().catch((err: Error) => this.logger.error({ err: err.message }, `gRPC API: cannot load the Dapr protos: ${err.message}`));
  }

  /** Stops accepting requests, lets in-flight calls finish, then releases components and connections. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#outbound = false;
      await this.discovery.stop();
      // Both APIs drain at once: in-flight calls finish, for at most the graceful shutdown time.
      const grpcClosed = this.#grpc?.close(this.config.gracefulShutdownSeconds * 1000);
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
      await grpcClosed;
      // Consumers of the app (input bindings) and health probes stop; then the delivery loops, whose
      // in-flight deliveries still use the app channel, which closes last.
      await this.app?.stop();
      await this.pubsub.close();
      this.app?.close();
      await this.registry.close();
      await this.#capabilities.close();
    })();
    return this.#stopping;
  }

  /** The port the gRPC API listens on (useful with port 0 in tests). */
  grpcPort(): number | undefined {
    return this.#grpc?.port;
  }

  /** The address the HTTP API listens on (useful with port 0 in tests). */
  httpAddress(): string | undefined {
    const a = this.#http?.server.address();
    return a && typeof a === 'object' ? `http://127.0.0.1:${a.port}` : undefined;
  }
}
