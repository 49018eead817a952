/**
 * The engine behind `mortar up`'s workload listener (`trigger-server.ts`): one `WorkloadHost` per component of
 * the plan (`spin-workload.ts`), each with the component's key-value labels and stores, resolved variables,
 * `allowed_outbound_hosts` and environment; a changed `.wasm` is swapped in (its file is polled).
 */
import { type Stats, unwatchFile, watchFile } from 'node:fs';
import type { WorkloadMode } from '../config.js';
import type { Logger } from '../logger.js';
import type { WorkloadHandler, WorkloadRequest, WorkloadResponse } from './workload-handler.js';
import { WorkloadHost } from './workload-host.js';
import { guestRequest, routedResponse } from './workload-answer.js';
import type { WorkloadApi } from './workload-endpoint.js';
import type { WorkloadPlan } from './spin-workload.js';
import type { SpinRouter } from './spin-routes.js';
import { WORKER_TRIGGER_MODULE, type WorkerTriggerOptions } from './worker-trigger.js';

export interface WorkloadEngineOptions {
  readonly plan: WorkloadPlan;
  readonly api: WorkloadApi;
  readonly logger: Logger;
  /** The transpile cache's folder (`<data dir>/cache`). */
  readonly cacheDir: string;
  /** How often each `.wasm` is checked for a change (ms); 0: not watched. */
  readonly pollMs: number;
  /** Most workers per workload component (`--workload-instances`). */
  readonly instances: number;
  /** How requests run (`--workload-mode`; `WorkloadSpec.mode`). */
  readonly mode?: WorkloadMode;
  /** Each instance's memory cap (`--component-memory`). */
  readonly memoryBytes: number;
}

export class WorkloadEngine implements WorkloadHandler {
  readonly #hosts = new Map<string, WorkloadHost>();
  readonly #watched: string[] = [];

  constructor(private readonly opts: WorkloadEngineOptions) {}

  /** Starts every component; rejects (naming the component's file) if one cannot start. */
  async start(): Promise<void> {
    const { plan } = this.opts;
    for (const c of plan.components.values()) {
      const host = new WorkloadHost({ api: this.opts.api, logger: this.opts.logger, cacheDir: this.opts.cacheDir });
      await host.start({
        appId: plan.appId,
        name: c.id,
        wasm: c.wasmPath,
        keyValueStores: [...c.keyValueStores.keys()],
        keyValueMap: Object.fromEntries(c.keyValueStores),
        variables: Object.fromEntries([...c.variables].map(([k, v]) => [k, v.value])),
        allowOutbound: (url) => c.allowedHosts.allows(url, new URL(url).protocol.slice(0, -1)),
        environment: c.environment,
        instances: this.opts.instances,
        mode: this.opts.mode,
        memoryBytes: this.opts.memoryBytes,
      });
      this.#hosts.set(c.id, host);
      if (this.opts.pollMs > 0) this.#watch(c.id, c.wasmPath, host);
    }
  }

  #watch(id: string, path: string, host: WorkloadHost): void {
    const changed = (now: Stats, before: Stats) => {
      if (now.mtimeMs === before.mtimeMs && now.size === before.size) return;
      if (now.size === 0) return; // being rewritten
      host.replace(path).then(
        () => this.opts.logger.info({ component: id }, `component ${id}: ${path} changed, swapped in`),
        (err: Error) =>
          this.opts.logger.error(
            { component: id, err: err.message },
            `component ${id}: ${path} changed but cannot be loaded (the previous one keeps serving): ${err.message}`,
          ),
      );
    };
    watchFile(path, { interval: this.opts.pollMs, persistent: false }, changed);
    this.#watched.push(path);
  }

  /**
   * Has the component's async workers run the workload's listener themselves (`worker-trigger.ts`), joined
   * to the address `TriggerServer.listen(host, port, 'first')` opened, when every route leads to one component
   * and its workers can (`WorkloadHost.listen`). True when they listen: the caller's listener may then stop
   * accepting. Rejects when a worker cannot listen.
   */
  async listen(o: Omit<WorkerTriggerOptions, 'component' | 'routes'> & { readonly router: SpinRouter }): Promise<boolean> {
    const component = this.#soleComponent(o.router);
    const host = component === undefined ? undefined : this.#hosts.get(component);
    if (!host) return false;
    const { router, ...rest } = o;
    const options: WorkerTriggerOptions = { ...rest, routes: router.entries, component: component! };
    return host.listen({ module: WORKER_TRIGGER_MODULE, options });
  }

  /** The component every route of `router` leads to, if one does and its workers could listen (async workers). */
  #soleComponent(router: SpinRouter): string | undefined {
    if (this.opts.mode === 'sync') return undefined;
    const targets = new Set(router.entries.flatMap((e) => ('component' in e.target ? [e.target.component] : [])));
    return targets.size === 1 ? [...targets][0] : undefined;
  }

  /** Whether `listen` would have workers listen: every route leads to one component, whose workers can (`WorkloadHost.canListen`). */
  async workersCanListen(router: SpinRouter): Promise<boolean> {
    const component = this.#soleComponent(router);
    return component !== undefined && ((await this.#hosts.get(component)?.canListen()) ?? false);
  }

  /** Stops the workers' own listeners (`listen`): their requests in flight finish for at most `graceMs`. */
  async unlisten(graceMs: number): Promise<void> {
    await Promise.all([...this.#hosts.values()].map((h) => h.unlisten(graceMs)));
  }

  async handle(componentId: string, request: WorkloadRequest): Promise<WorkloadResponse> {
    const host = this.#hosts.get(componentId);
    if (!host) throw new Error(`no component '${componentId}'`);
    return routedResponse(await host.handle(guestRequest(request)));
  }

  async close(): Promise<void> {
    for (const p of this.#watched.splice(0)) unwatchFile(p);
    await Promise.all([...this.#hosts.values()].map((h) => h.close()));
    this.#hosts.clear();
  }
}
