import { homedir } from 'node:os';
import { join } from 'node:path';
import { usableCores } from './usable-cores.js';

/** How a workload's requests run (`WorkloadSpec.mode` says what each means). */
export type WorkloadMode = 'sync' | 'async';

/** Everything `mortar run` can be told, after flag parsing and defaults. */
export interface RuntimeConfig {
  readonly appId: string;
  readonly appPort?: number;
  readonly appProtocol: string;
  readonly appChannelAddress: string;
  /** `--enable-app-health-check` with its `--app-health-*` settings; absent: the app is not probed. */
  readonly appHealth?: AppHealthConfig;
  /** `--disable-init-endpoints`: the init calls to the app that are not made. */
  readonly disableInitEndpoints: readonly InitEndpoint[];
  readonly httpPort: number;
  /** `--dapr-grpc-port`: the gRPC API's port on every listen address (0: a free one, as in tests). */
  readonly grpcPort: number;
  readonly listenAddresses: readonly string[];
  readonly resourcePaths: readonly string[];
  readonly dataDir: string;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'trace' | 'silent';
  readonly configFile?: string;
  readonly maxBodyBytes: number;
  readonly gracefulShutdownSeconds: number;
  /** mortar: instances per component (workers). */
  readonly instances: number;
  /** mortar up: most instances per workload component (workers; see `DEFAULTS.workloadInstances`). */
  readonly workloadInstances?: number;
  /** mortar up: how workload requests run (`--workload-mode`; unset: `WorkloadSpec.mode`'s default). */
  readonly workloadMode?: WorkloadMode;
  /** mortar: deadline of a component call no Resiliency timeout applies to (see `DEFAULTS`). */
  readonly componentCallTimeoutMs: number;
  /** mortar: cap on each component instance's linear memory. */
  readonly componentMemoryBytes: number;
  /** mortar: how often resource folders are checked for changes. */
  readonly pollMs: number;
  readonly apiToken?: string;
  /** `APP_API_TOKEN`: sent to the app as `dapr-api-token`. */
  readonly appToken?: string;
}

/** The default instances per component for `cores` usable cores (`DEFAULTS.instances`). */
export const instancesFor = (cores: number): number => Math.max(1, Math.min(4, Math.floor(cores) - 1));
/** The default most instances per workload component for `cores` usable cores (`DEFAULTS.workloadInstances`). */
export const workloadInstancesFor = (cores: number): number => Math.max(2, Math.min(8, Math.floor(2 * cores)));

export const DEFAULTS = {
  httpPort: 3500,
  grpcPort: 50001,
  maxBodyBytes: 4 * 1024 * 1024,
  dataDir: join(homedir(), '.mortar'),
  /** One instance per core beyond the one the HTTP API and the host's I/O run on, up to 4 (measured in
   *  bench/: on 2 cores a second instance only adds thread hand-offs; on more cores it adds throughput).
   *  Cores as `usableCores` counts them: a container's CPU quota, not its node's cores. */
  instances: instancesFor(usableCores()),
  /**
   * Most instances per workload component under `mortar up` (`--workload-instances`): twice the cores, 2 to 8.
   * A request holds its instance while every host call it makes (a key-value get, an outbound request) is
   * away, and a waiting instance uses no CPU, so more instances than cores overlap those waits. Started on
   * demand: an idle workload holds one. Measured in bench/ (`bench/RESULTS.md`, 2026-12-01 late).
   */
  workloadInstances: workloadInstancesFor(usableCores()),
  /**
   * The deadline of every component call that no Resiliency outbound timeout applies to (`--component-call-timeout`):
   * the caller gets Dapr's 500 error (`ERR_STATE_GET`, ...) by then. The instance starts no call past its
   * deadline and its host imports give up by then, so it is free again; one still computing 500 ms later is
   * terminated and replaced. Applied in `InstancePool.callTimeout`. Close to the backend clients' own 5 s
   * command timeouts: long enough for a slow backend, short enough that a frozen one fails requests fast.
   */
  componentCallTimeoutMs: 5_000,
  componentMemoryBytes: 256 * 1024 * 1024,
  pollMs: 500,
  gracefulShutdownSeconds: 5,
  /** `mortar run -- <command>`: on shutdown the app's process group gets SIGTERM, and SIGKILL if any of it
   *  is still alive this long after (`dapr run`'s grace period). */
  appStopGraceMs: 5000,
  /** HTTP API: a request whose headers have not all arrived this long after the connection opened (or after
   *  the previous request on it) is answered 408 and its connection closed. daprd: `ReadHeaderTimeout` 10 s. */
  httpHeadersTimeoutMs: 10_000,
  /** HTTP API: a request (headers and body) not fully received this long after it began is answered 408 and
   *  its connection closed, so a body that never finishes holds nothing. A 4 MiB body needs only ~1.1 Mbit/s. */
  httpRequestTimeoutMs: 30_000,
  /** How often the HTTP server checks the two timeouts above, so each fires at most this late. */
  httpTimeoutCheckMs: 1000,
} as const;

/** Parses Dapr/Kubernetes quantities (`4Mi`, `10M`, `512Ki`, `1048576`) into bytes. */
export function parseQuantity(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|K|M|G|k)?B?$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a size (use e.g. 4Mi, 10M or a byte count)`);
  const n = Number(m[1]);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Math.floor(n * unit);
}

/** The health-check settings, as daprd's flags give them. */
export interface AppHealthConfig {
  /** `--app-health-check-path` (default `/healthz`). */
  readonly path: string;
  /** `--app-health-probe-interval`, in ms here (the flag is in seconds; default 5 s). */
  readonly intervalMs: number;
  /** `--app-health-probe-timeout` (ms; default 500). */
  readonly timeoutMs: number;
  /** `--app-health-threshold`: consecutive failures that make the app unhealthy (default 3; at least 1). */
  readonly threshold: number;
}

/** daprd's defaults (spec 1.1). */
export const APP_HEALTH_DEFAULTS: AppHealthConfig = { path: '/healthz', intervalMs: 5000, timeoutMs: 500, threshold: 3 };

/** The init calls `--disable-init-endpoints` can turn off. */
export type InitEndpoint = 'config' | 'subscribe';
/** Every name `--disable-init-endpoints` takes. */
export const INIT_ENDPOINTS: readonly InitEndpoint[] = ['config', 'subscribe'];
