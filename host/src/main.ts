/**
 * The `mortar` command line: `mortar run` is a drop-in for `daprd` / `dapr run`.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { DEFAULTS, parseQuantity, type RuntimeConfig, type WorkloadMode } from './config.js';
import { Runtime, RUNTIME_VERSION } from './runtime.js';
import { AppProcess, type AppExit } from './app-process.js';
import { APP_HEALTH_DEFAULTS, type AppHealthConfig } from './app-channel/health.js';
import { INIT_ENDPOINTS, type InitEndpoint } from './app-channel/lifecycle.js';
import type { UpArgs } from './workloads/up-args.js';
import type { WorkloadPlan } from './workloads/spin-workload.js';
import type { TriggerServer } from './workloads/trigger-server.js';
import type { WorkloadApp } from './app-channel/workload-channel.js';

const USAGE = `mortar ${RUNTIME_VERSION}: a Dapr-compatible sidecar whose backends are WebAssembly components

Usage:
  mortar run [flags] [-- <command> [args...]]
  mortar up [-f <spin.toml>] [--listen <addr>] [--runtime-config-file <file>] [flags]
                                     run a Spin application beside the sidecar (mortar up --help)
  mortar component new|build ...     write and build a Wasm component (mortar component --help)
  mortar version

Flags (daprd-compatible):
  --app-id <id>                      the application's id (default: mortar)
  --app-port <port>                  the port the app listens on
  --app-protocol <p>                 http | grpc | https | grpcs | h2c (default: http)
  --app-channel-address <addr>       the app's address (default: 127.0.0.1)
  --dapr-http-port <port>            HTTP API port (default: 3500)
  --dapr-grpc-port <port>            gRPC API port, passed to the app as DAPR_GRPC_PORT (default: 50001)
  --dapr-listen-addresses <a,b>      addresses to listen on, each one served (default: 127.0.0.1)
  --resources-path <dir>             folder of component YAML and .wasm files (repeatable);
                                     alias --components-path. Without it: embedded defaults.
  --data-dir <dir>                   where embedded stores and caches live (default: ~/.mortar)
  --log-level <level>                debug | info | warn | error (default: info)
  --config <file>                    a Dapr Configuration file (accepted; not yet applied: a warning says so)
  --max-body-size <size>             largest request body, e.g. 4Mi (default: 4Mi)
  --dapr-http-max-request-size <MB>  deprecated form of --max-body-size, in MB
  --dapr-graceful-shutdown-seconds <n>  time allowed for in-flight work on SIGTERM (default: 5)
  --enable-app-health-check          probe the app; while it is unhealthy, deliveries to it pause
  --app-health-check-path <path>     the path probed with GET (default: /healthz)
  --app-health-probe-interval <s>    seconds between probes (default: 5)
  --app-health-probe-timeout <ms>    deadline of one probe (default: 500)
  --app-health-threshold <n>         consecutive failed probes that make the app unhealthy (default: 3)
  --disable-init-endpoints <list>    app calls not made at start: config (GET /dapr/config),
                                     subscribe (GET /dapr/subscribe); comma-separated
mortar flags:
  --instances <n>                    most sandboxed instances per component (default: cores - 1, 1..4; cores: the CPU quota if set)
  --workload-instances <n>           mortar up: most instances per workload component (default: 2 x cores, 2..8; cores as above)
  --workload-mode <async|sync>       mortar up: async (default) runs guests on JSPI, each worker (one per core) serving up
                                     to 16 requests at once; sync serves one request per worker at a time
  --component-call-timeout <ms>      deadline of a component call without a Resiliency timeout (default: 5000)
  --component-memory <size>          linear memory cap per component instance (default: 256Mi)
Environment: DAPR_API_TOKEN (require dapr-api-token on API calls), MORTAR_LOG_FORMAT=text.
`;

/** Flags daprd accepts that mortar recognises but does not act on (named in one warning at start). */
const ACCEPTED_ONLY = [
  'placement-host-address',
  'scheduler-host-address',
  'metrics-port',
  'enable-metrics',
  'profile-port',
  'enable-profiling',
  'dapr-internal-grpc-port',
  'app-max-concurrency',
  'mode',
  'allowed-origins',
  'dapr-public-port',
  'enable-mtls',
  'sentry-address',
  'control-plane-address',
  'app-ssl',
  'unix-domain-socket',
  'log-as-json',
  'enable-api-logging',
  'namespace',
  'dapr-block-shutdown-duration',
];

/** Values of accepted-only flags that ask for what mortar does anyway, so need no warning. */
const ALREADY_SO: Readonly<Record<string, readonly string[]>> = {
  mode: ['standalone'],
  'enable-metrics': ['false'],
  'enable-profiling': ['false'],
  'enable-mtls': ['false'],
  'app-ssl': ['false'],
  'enable-api-logging': ['false'],
  'app-max-concurrency': ['-1'],
};

/**
 * Parses `mortar run`'s flags. `ignored` lists, as written on the command line, every flag that was
 * accepted but is not applied (`--config <file>`, `--app-protocol grpc`, `--placement-host-address`, ...).
 */
export function parseRunArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): { config: RuntimeConfig; command: string[]; ignored: string[] } {
  const dash = argv.indexOf('--');
  const flagsPart = dash >= 0 ? argv.slice(0, dash) : argv;
  const command = dash >= 0 ? argv.slice(dash + 1) : [];
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    'app-id': { type: 'string' },
    'app-port': { type: 'string' },
    'app-protocol': { type: 'string' },
    'app-channel-address': { type: 'string' },
    'dapr-http-port': { type: 'string' },
    'dapr-grpc-port': { type: 'string' },
    'dapr-listen-addresses': { type: 'string' },
    'resources-path': { type: 'string', multiple: true },
    'components-path': { type: 'string', multiple: true },
    'data-dir': { type: 'string' },
    'log-level': { type: 'string' },
    config: { type: 'string' },
    'max-body-size': { type: 'string' },
    'dapr-http-max-request-size': { type: 'string' },
    'dapr-graceful-shutdown-seconds': { type: 'string' },
    instances: { type: 'string' },
    'workload-instances': { type: 'string' },
    'workload-mode': { type: 'string' },
    'component-call-timeout': { type: 'string' },
    'component-memory': { type: 'string' },
    'poll-ms': { type: 'string' },
    help: { type: 'boolean' },
    'app-health-check-path': { type: 'string' },
    'app-health-probe-interval': { type: 'string' },
    'app-health-probe-timeout': { type: 'string' },
    'app-health-threshold': { type: 'string' },
    'disable-init-endpoints': { type: 'string', multiple: true },
  };
  for (const f of ACCEPTED_ONLY) options[f] = { type: 'string' };
  // daprd flags may be written -app-id (single dash, Go style) or --app-id=x; normalise the single dash.
  // Go boolean flags are given bare (`--x`) or with `=value` (`--x=false`), never with a separate value.
  const bools: Record<string, boolean> = {};
  const norm = flagsPart
    .map((a) => (/^-[a-z][a-z-]+/.test(a) ? `-${a}` : a))
    .filter((a) => {
      const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
      if (!m || !GO_BOOL_FLAGS.includes(m[1]!)) return true;
      const b = m[2] === undefined ? true : goBool(m[2]);
      if (b === undefined) throw new Error(`--${m[1]}: '${m[2]}' is not true or false`);
      bools[m[1]!] = b;
      return false;
    });
  const { values } = parseArgs({ args: norm, options, strict: true, allowPositionals: false });
  const v = values as Record<string, string | string[] | boolean | undefined>;
  const str = (k: string) => v[k] as string | undefined;
  const int = (k: string, dflt?: number): number | undefined => {
    const s = str(k);
    if (s === undefined) return dflt;
    if (!/^\d+$/.test(s)) throw new Error(`--${k}: '${s}' is not a whole number`);
    return Number(s);
  };
  const level = (str('log-level') ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error', 'fatal', 'trace', 'silent'].includes(level))
    throw new Error(`--log-level: '${level}' is not one of debug, info, warn, error`);
  let maxBody: number = DEFAULTS.maxBodyBytes;
  if (str('dapr-http-max-request-size')) maxBody = (int('dapr-http-max-request-size') ?? 4) * 1024 * 1024;
  if (str('max-body-size')) maxBody = parseQuantity(str('max-body-size')!);
  const protocol = str('app-protocol') ?? 'http';
  if (!['http', 'grpc', 'https', 'grpcs', 'h2c'].includes(protocol))
    throw new Error(`--app-protocol: '${protocol}' is not one of http, grpc, https, grpcs, h2c`);
  const paths = [...((v['resources-path'] as string[] | undefined) ?? []), ...((v['components-path'] as string[] | undefined) ?? [])];
  const config: RuntimeConfig = {
    appId: str('app-id') ?? env.APP_ID ?? 'mortar',
    appPort: int('app-port'),
    appProtocol: protocol,
    appChannelAddress: str('app-channel-address') ?? '127.0.0.1',
    appHealth: bools['enable-app-health-check'] ? appHealth(str, int) : undefined,
    disableInitEndpoints: initEndpoints((v['disable-init-endpoints'] as string[] | undefined) ?? []),
    httpPort: int('dapr-http-port', DEFAULTS.httpPort)!,
    grpcPort: int('dapr-grpc-port', DEFAULTS.grpcPort)!,
    listenAddresses: (str('dapr-listen-addresses') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    resourcePaths: paths.map((p) => resolve(p)),
    dataDir: resolve(str('data-dir') ?? env.MORTAR_DATA_DIR ?? DEFAULTS.dataDir),
    logLevel: level as RuntimeConfig['logLevel'],
    configFile: str('config'),
    maxBodyBytes: maxBody,
    gracefulShutdownSeconds: int('dapr-graceful-shutdown-seconds', DEFAULTS.gracefulShutdownSeconds)!,
    instances: Math.max(1, int('instances', DEFAULTS.instances)!),
    workloadInstances: Math.max(1, int('workload-instances', DEFAULTS.workloadInstances)!),
    workloadMode: workloadMode(str('workload-mode')),
    componentCallTimeoutMs: Math.max(100, int('component-call-timeout', DEFAULTS.componentCallTimeoutMs)!),
    componentMemoryBytes: str('component-memory') ? parseQuantity(str('component-memory')!) : DEFAULTS.componentMemoryBytes,
    pollMs: Math.max(50, int('poll-ms', DEFAULTS.pollMs)!),
    apiToken: env.DAPR_API_TOKEN || undefined,
    appToken: env.APP_API_TOKEN || undefined,
  };
  const ignored = ACCEPTED_ONLY.filter((f) => v[f] !== undefined && !ALREADY_SO[f]?.includes(String(v[f]).toLowerCase())).map((f) => `--${f}`);
  // The HTTP and gRPC app channels exist; the other protocols are accepted and the app is called over HTTP.
  if (protocol !== 'http' && protocol !== 'grpc') ignored.unshift(`--app-protocol ${protocol}`);
  if (config.configFile) ignored.unshift(`--config ${config.configFile}`);
  if (v.help) throw new HelpRequested();
  return { config, command, ignored };
}

class HelpRequested extends Error {}

function workloadMode(v: string | undefined): WorkloadMode | undefined {
  if (v === undefined || v === 'sync' || v === 'async') return v;
  throw new Error(`--workload-mode: '${v}' is not sync or async`);
}

/** daprd's boolean flags that mortar applies (see the normalisation in `parseRunArgs`). */
const GO_BOOL_FLAGS = ['enable-app-health-check'];

/** Go's `strconv.ParseBool`. */
function goBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** The app-health settings from `--app-health-*` (each at least 1; the path gets a leading `/`). */
function appHealth(str: (k: string) => string | undefined, int: (k: string, dflt?: number) => number | undefined): AppHealthConfig {
  const d = APP_HEALTH_DEFAULTS;
  const path = str('app-health-check-path') || d.path;
  return {
    path: path.startsWith('/') ? path : `/${path}`,
    intervalMs: Math.max(1, int('app-health-probe-interval', d.intervalMs / 1000)!) * 1000,
    timeoutMs: Math.max(1, int('app-health-probe-timeout', d.timeoutMs)!),
    threshold: Math.max(1, int('app-health-threshold', d.threshold)!),
  };
}

/** `--disable-init-endpoints config,subscribe` (repeatable, comma-separated). */
function initEndpoints(given: readonly string[]): InitEndpoint[] {
  const out = new Set<InitEndpoint>();
  for (const name of given
    .flatMap((g) => g.split(','))
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(INIT_ENDPOINTS as readonly string[]).includes(name))
      throw new Error(`--disable-init-endpoints: '${name}' is not one of ${INIT_ENDPOINTS.join(', ')}`);
    out.add(name as InitEndpoint);
  }
  return [...out];
}

async function run(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseRunArgs>;
  try {
    parsed = parseRunArgs(argv);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(USAGE);
      return;
    }
    process.stderr.write(`mortar run: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const { config, command, ignored } = parsed;
  await serve(config, command, ignored);
}

/** Something served beside the sidecar (`mortar up`'s HTTP triggers): started once the runtime is, stopped first. */
interface Beside {
  start(runtime: Runtime): Promise<void>;
  stop(): Promise<void>;
  /** Released after the runtime stopped (the workload, which deliveries in flight still call). */
  close?(): Promise<void>;
  /** The app the sidecar calls (`mortar up`: the workload). */
  readonly workload?: WorkloadApp;
}

/** `mortar up`: checks the Spin app, then serves the sidecar and the app's HTTP triggers. */
async function up(argv: string[]): Promise<void> {
  // Loaded only for this command, so `mortar run` starts without them (smol-toml included).
  const [
    { parseUpArgs, UP_USAGE },
    { loadSpinManifest, locateManifest },
    { EMPTY_RUNTIME_CONFIG, loadRuntimeConfig },
    { parseVariableArg },
    { planWorkload },
    { TriggerServer, CAN_SHARE_LISTENER },
    { WorkloadEngine },
    { WorkloadAppEndpoint },
  ] = await Promise.all([
    import('./workloads/up-args.js'),
    import('./workloads/spin-manifest.js'),
    import('./workloads/spin-runtime-config.js'),
    import('./workloads/spin-variables.js'),
    import('./workloads/spin-workload.js'),
    import('./workloads/trigger-server.js'),
    import('./workloads/workload-engine.js'),
    import('./workloads/workload-app.js'),
  ]);
  let spin: UpArgs;
  let parsed: ReturnType<typeof parseRunArgs>;
  try {
    spin = parseUpArgs(argv);
    if (spin.help) throw new HelpRequested();
    parsed = parseRunArgs([...spin.rest]);
    // The workload is the app: the sidecar calls its handler (workload-app.ts), not a port or a gRPC server.
    if (parsed.config.appPort !== undefined) throw new Error('--app-port: under mortar up the workload is the app (the sidecar calls its handler)');
    if (parsed.config.appProtocol !== 'http')
      throw new Error(`--app-protocol ${parsed.config.appProtocol}: under mortar up the sidecar calls the workload as an HTTP app`);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(UP_USAGE);
      return;
    }
    process.stderr.write(`mortar up: ${(err as Error).message}\n\n${UP_USAGE}`);
    process.exitCode = 2;
    return;
  }
  let plan: WorkloadPlan;
  try {
    const app = loadSpinManifest(locateManifest(spin.from));
    const runtimeConfig = spin.runtimeConfigFile ? loadRuntimeConfig(resolve(spin.runtimeConfigFile)) : EMPTY_RUNTIME_CONFIG;
    const cli: Record<string, string> = {};
    for (const v of spin.variables) Object.assign(cli, parseVariableArg(v, process.cwd()));
    plan = planWorkload(app, {
      runtimeConfig,
      variables: { cli, providers: runtimeConfig.variableProviders, env: process.env, cwd: process.cwd() },
      env: spin.env,
    });
    const explicit = parsed.config.appId;
    if (spin.rest.some((a) => /^--?app-id(=|$)/.test(a)) && explicit !== plan.appId)
      throw new Error(`--app-id '${explicit}' differs from application.name '${plan.appId}', the workload's app id (leave --app-id out)`);
  } catch (err) {
    process.stderr.write(`mortar up: ${(err as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const config: RuntimeConfig = { ...parsed.config, appId: plan.appId };
  let trigger: TriggerServer | undefined;
  let engine: InstanceType<typeof WorkloadEngine> | undefined;
  const workload = new WorkloadAppEndpoint();
  await serve(config, parsed.command, [...spin.ignored, ...parsed.ignored], {
    workload,
    start: async (runtime) => {
      const log = runtime.logger;
      for (const w of plan.warnings) log.warn(w);
      const stores = new Set(runtime.registry.byBlock('state').map((c) => c.name));
      for (const c of plan.components.values()) {
        for (const [label, store] of c.keyValueStores)
          if (!stores.has(store))
            log.warn(
              { component: c.id, label, store },
              `component ${c.id}: key-value label '${label}' opens the state store '${store}', which is not loaded (declare it in --resources-path, or map the label in --runtime-config-file)`,
            );
        const vars = [...c.variables].map(([k, v]) => `${k}=${v.secret ? '<redacted>' : v.value}`).join(', ');
        const kv = [...c.keyValueStores].map(([l, s]) => `${l} -> ${s}`).join(', ');
        log.debug({ component: c.id }, `component ${c.id}: ${c.wasmPath}; key-value: ${kv || 'none'}; variables: ${vars || 'none'}`);
      }
      engine = new WorkloadEngine({
        plan,
        api: runtime.api,
        logger: log,
        cacheDir: join(config.dataDir, 'cache'),
        pollMs: config.pollMs,
        instances: config.workloadInstances ?? DEFAULTS.workloadInstances,
        mode: config.workloadMode,
        memoryBytes: config.componentMemoryBytes,
      });
      await engine.start();
      const running = engine;
      const routes = {
        appId: plan.appId,
        appVersion: plan.app.version,
        router: plan.router,
        staticResponses: plan.staticResponses,
        // The engine outlives the listener: deliveries still call it until the runtime has stopped (`close`).
        handler: { handle: running.handle.bind(running) },
        logger: log,
      };
      trigger = new TriggerServer({ ...routes, maxBodyBytes: config.maxBodyBytes });
      // Where the workers can take the connections themselves (worker-trigger.ts), the address is opened for
      // them to join; then this thread takes none (the app channel still comes here: workload.serve below).
      const shared = CAN_SHARE_LISTENER && (await running.workersCanListen(plan.router));
      await trigger.listen(spin.listen.host, spin.listen.port, shared ? 'first' : undefined);
      const workersListen =
        shared &&
        (await running.listen({
          appId: plan.appId,
          appVersion: plan.app.version,
          router: plan.router,
          staticResponses: plan.staticResponses,
          maxBodyBytes: config.maxBodyBytes,
          host: trigger.boundAddress,
          port: trigger.port,
          debug: log.isLevelEnabled('debug'),
        }));
      if (workersListen) trigger.stopAccepting();
      workload.serve(routes, trigger.authority);
      const served = plan.router
        .routes()
        .map((r) => `  ${'component' in r.target ? r.target.component : r.target.trigger}: ${trigger!.url}${r.route}${r.wildcard ? ' (wildcard)' : ''}`);
      log.info({ listen: trigger.url }, `Serving ${trigger.url}\nAvailable Routes:\n${served.join('\n')}`);
    },
    stop: async () => {
      const grace = config.gracefulShutdownSeconds * 1000;
      await Promise.all([trigger?.close(grace), engine?.unlisten(grace)]);
    },
    close: async () => engine?.close(),
  });
}

async function serve(config: RuntimeConfig, command: string[], ignored: string[], beside?: Beside): Promise<void> {
  const runtime = new Runtime(config, undefined, { workload: beside?.workload });
  const log = runtime.logger;
  if (ignored.length) log.warn({ flags: ignored }, `accepted but not applied by mortar ${RUNTIME_VERSION}: ${ignored.join(', ')}`);

  let app: AppProcess | undefined;
  let exiting = false;
  const shutdown = async (signal: string, code = 0) => {
    if (exiting) return;
    exiting = true;
    log.info({ signal }, `received ${signal}: shutting down gracefully`);
    const force = setTimeout(
      () => {
        app?.signalGroup('SIGKILL');
        process.exit(code || 1);
      },
      Math.max(config.gracefulShutdownSeconds * 1000, DEFAULTS.appStopGraceMs) + 2000,
    );
    force.unref();
    // As dapr run: the sidecar drains while the app's whole process group is stopped and awaited.
    await Promise.all([
      app?.stop(DEFAULTS.appStopGraceMs),
      (async () => {
        await beside?.stop().catch((err: Error) => log.error({ err: err.message }, `stopping: ${err.message}`));
        await runtime.stop();
        await beside?.close?.().catch((err: Error) => log.error({ err: err.message }, `stopping: ${err.message}`));
      })(),
    ]);
    log.info('stopped');
    process.exit(code);
  };
  runtime.onFatal = (why) => void shutdown(why, 1);
  runtime.onShutdownRequested = (force) => {
    if (!force) return void shutdown('the Shutdown API');
    // daprd's `dapr-force-shutdown: true`: exit(1) after 100 ms, no graceful stop.
    log.warn('the Shutdown API with dapr-force-shutdown: exiting in 100 ms');
    setTimeout(() => {
      app?.signalGroup('SIGKILL');
      process.exit(1);
    }, 100);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // The app runs in a session of its own, so a closing terminal no longer reaches it: stop it from here.
  process.on('SIGHUP', () => void shutdown('SIGHUP'));
  // Whatever way this process ends (a crash included), the app does not outlive it.
  process.on('exit', () => app?.signalGroup('SIGKILL'));

  try {
    await runtime.start();
    await beside?.start(runtime);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, `failed to start: ${(err as Error).message}`);
    await runtime.stop().catch(() => undefined);
    process.exit(1);
  }

  if (command.length > 0) {
    const env: NodeJS.ProcessEnv = { ...process.env, DAPR_HTTP_PORT: String(config.httpPort), DAPR_GRPC_PORT: String(config.grpcPort), APP_ID: config.appId };
    if (config.appPort !== undefined) env.APP_PORT = String(config.appPort);
    app = new AppProcess(
      command,
      env,
      log,
      (exit: AppExit) => {
        if (exiting) return;
        // As dapr run: the app ending by itself stops the sidecar (and what the app left running in its
        // group); mortar exits with the app's code, 1 when a signal ended it.
        log.info({ code: exit.code, signal: exit.signal }, `app exited with ${exit.signal ?? `code ${exit.code}`}`);
        void shutdown('app-exit', exit.signal ? 1 : (exit.code ?? 0));
      },
      (err) => {
        log.error({ err: err.message }, `could not start ${command[0]}: ${err.message}`);
        void shutdown('app-error', 1);
      },
    );
  }
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'up':
      return up(rest);
    case 'component': {
      // Loaded only for this command, so `mortar run` starts without it.
      const { componentCommand } = await import('./cli/component.js');
      process.exitCode = await componentCommand(rest);
      return;
    }
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`${RUNTIME_VERSION}\n`);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`mortar: unknown command '${cmd}'\n\n${USAGE}`);
      process.exitCode = 2;
  }
}
