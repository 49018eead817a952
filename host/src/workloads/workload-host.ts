/**
 * Runs one Wasm HTTP workload (a component exporting `wasi:http/incoming-handler`: a Spin app's component):
 * the entry point a front end (`mortar up`) wires.
 *
 * ```ts
 * const host = new WorkloadHost({ api: runtime.api, logger, dataDir });
 * await host.start({ appId: 'counter', name: 'counter', wasm: 'app.wasm', keyValueStores: ['default'],
 *   variables: { message: 'hi' }, allowedOrigins: ['https://api.example.com'] });
 * const res = await host.handle({ method: 'GET', scheme: 'http', authority: '127.0.0.1:3000',
 *   pathWithQuery: '/counter', headers: [], body: new Uint8Array() });
 * await host.replace(newBytes); // a changed .wasm; requests keep being served meanwhile
 * await host.close();
 * ```
 *
 * Each request runs on a fresh instance (reset to its post-initialisation image: `sandbox/workload-instance.ts`)
 * in the sandbox's worker pool: worker threads, a memory cap per instance, a deadline per request. A request
 * whose guest traps, loops past its deadline or sets no response answers 500 with a plain-text reason, and
 * the next request is served (the pool replaces a trapped or stuck worker). The guest's key-value, variables,
 * config, outbound HTTP and `mortar:app` calls go to `WorkloadEndpoint` on this thread.
 */
import { readFile } from 'node:fs/promises';
import type { MessagePort } from 'node:worker_threads';
import { serveBridge, type BridgeHost } from '../capabilities/bridge.js';
import { InstancePool } from '../components/sandbox/pool.js';
import { AsyncWorkloadPool } from '../components/sandbox/async-workload-pool.js';
import type { WorkerListener } from '../components/sandbox/async-workload-protocol.js';
import { asyncImportsOf } from '../components/sandbox/async-imports.js';
import { usableCores } from '../usable-cores.js';
import type { WorkloadRequest, WorkloadResponse } from '../components/sandbox/wasi-http.js';
import { unservedImport } from '../components/sandbox/workload-imports.js';
import { WORKLOAD_FN, WORKLOAD_IFACE, type WorkloadWorkerData } from '../components/sandbox/workload-protocol.js';
import { type Artifact, TranspileCache } from '../components/transpile-cache.js';
import { componentImportNames } from '../components/component-imports.js';
import { MortarError } from '../errors.js';
import type { WorkloadMode } from '../config.js';
import type { Logger } from '../logger.js';
import { WORKLOAD_LIMITS } from './limits.js';
import { answer, plain } from './workload-answer.js';
import { WorkloadEndpoint, type WorkloadApi } from './workload-endpoint.js';

export type { WorkloadRequest, WorkloadResponse };

/** What the host needs from the sidecar it runs in. */
export interface WorkloadHostDeps {
  /** The universal API (`Runtime.api`): key-value lands on its state building block. */
  readonly api: WorkloadApi;
  readonly logger: Logger;
  /** Where transpiled components are cached (`<data dir>/cache`, shared with the components'). */
  readonly cacheDir: string;
}

/** One workload, as a front end resolved it (manifest parsing, variables and runtime config are its job). */
export interface WorkloadSpec {
  /** The app id the workload acts for: its state keys' prefix (a Spin app's `[application] name`). */
  readonly appId: string;
  /** For logs (a Spin component's id). */
  readonly name: string;
  /** The component: a path to a `.wasm`, or its bytes. */
  readonly wasm: string | Uint8Array;
  /** Key-value labels the guest may open (Spin's `key_value_stores`); default none. */
  readonly keyValueStores?: readonly string[];
  /** Label -> state store name (a runtime config's `[key_value_store.<label>]`); unlisted: `default` is `statestore`, another label the store of its name. */
  readonly keyValueMap?: Readonly<Record<string, string>>;
  /** Resolved variable values (Spin's `variables`; also `wasi:config/store`). */
  readonly variables?: Readonly<Record<string, string>>;
  /** Origins the guest may call (`https://api.example.com`, `http://127.0.0.1:8080`; `*` any); default none. */
  readonly allowedOrigins?: readonly string[];
  /** Whether the guest may call `url` (a Spin `allowed_outbound_hosts` check, say): when given, instead of `allowedOrigins`. */
  readonly allowOutbound?: (url: string) => boolean;
  /** The guest's environment (Spin's `environment`). */
  readonly environment?: Readonly<Record<string, string>>;
  /** Worker instances serving requests at once (default 1). */
  readonly instances?: number;
  /** Deadline of one request (default `WORKLOAD_LIMITS.requestTimeoutMs`). */
  readonly requestTimeoutMs?: number;
  /** Cap on each instance's linear memory (default `WORKLOAD_LIMITS.memoryBytes`). */
  readonly memoryBytes?: number;
  /**
   * `async` (the default): the guest runs on JSPI in `async-workload-pool.ts` workers (as many as usable
   * cores, at most `instances`), each serving `WORKLOAD_LIMITS.asyncInstancesPerWorker` requests at once; a
   * guest waiting on a host call (outbound HTTP too) holds an instance, not a thread. `sync`: one request per
   * worker at a time, up to `instances` workers.
   */
  readonly mode?: WorkloadMode;
}

/** What serves a workload's requests: an `InstancePool` of sync workers, or an `AsyncWorkloadPool`. */
interface RequestPool {
  handle(req: WorkloadRequest): Promise<WorkloadResponse | { error: string }>;
  close(): Promise<void>;
  /** `AsyncWorkloadPool.listen`: absent, the pool's workers cannot listen themselves. */
  listen?(listener: WorkerListener): Promise<boolean>;
  unlisten?(graceMs: number): Promise<void>;
  canListen?(): Promise<boolean>;
  /** `AsyncWorkloadPool.swap`: absent, a changed component is a new pool. */
  swap?(artifact: Artifact): Promise<void>;
}

const WORKER_URL = new URL('../components/sandbox/workload-worker.js', import.meta.url);

export class WorkloadHost {
  readonly #deps: WorkloadHostDeps;
  readonly #cache: TranspileCache;
  #spec?: WorkloadSpec;
  #pool?: RequestPool;
  #endpoint?: WorkloadEndpoint;
  /** The last `replace`, the next one waiting for it. */
  #replacing: Promise<void> = Promise.resolve();

  constructor(deps: WorkloadHostDeps) {
    this.#deps = deps;
    this.#cache = new TranspileCache(deps.cacheDir);
  }

  /**
   * Loads the workload and starts its first instance. Rejects with `ERR_WASM_INVALID` when the file is not a
   * component, does not export `wasi:http/incoming-handler` or imports an interface mortar does not serve
   * (the error names it), and when its first instance cannot start.
   */
  async start(spec: WorkloadSpec): Promise<void> {
    if (this.#pool) throw new Error('WorkloadHost.start: already started');
    this.#spec = spec;
    this.#endpoint = new WorkloadEndpoint({
      appId: spec.appId,
      name: spec.name,
      api: this.#deps.api,
      logger: this.#deps.logger,
      keyValueStores: spec.keyValueStores ?? [],
      storeOf: spec.keyValueMap ?? {},
      variables: spec.variables ?? {},
      allowedOrigins: spec.allowedOrigins ?? [],
      allowOutbound: spec.allowOutbound,
    });
    this.#pool = await this.#startPool(await this.#artifactOf(typeof spec.wasm === 'string' ? await readFile(spec.wasm) : spec.wasm));
  }

  /**
   * Serves one request on a fresh instance. Never rejects: a body over `WORKLOAD_LIMITS.requestBodyBytes`
   * answers 413; a trap, a request past its deadline, or no response set answers 500 (with the reason, which
   * is also logged); a host that is not started or closed answers 503.
   */
  async handle(req: WorkloadRequest): Promise<WorkloadResponse> {
    const pool = this.#pool;
    if (!pool) return plain(503, 'the workload is not running');
    const name = this.#spec?.name ?? '';
    return answer(
      name,
      (r) => pool.handle(r),
      req,
      (line, path) => this.#deps.logger.warn({ workload: name, path }, line),
    );
  }

  /**
   * Swaps in a changed component; a broken file rejects and the old one keeps serving. Async workers run the
   * new one themselves (`AsyncWorkloadPool.swap`: each makes an instance of it first), so their listeners
   * (`listen`) and connections go on; sync workers are a new pool, started before requests go to it, the old
   * one finishing what it had. Changes are swapped in one at a time, in the order they came.
   */
  replace(wasm: string | Uint8Array): Promise<void> {
    const next = this.#replacing.then(() => this.#replace(wasm));
    this.#replacing = next.catch(() => undefined);
    return next;
  }

  async #replace(wasm: string | Uint8Array): Promise<void> {
    if (!this.#spec) throw new Error('WorkloadHost.replace: not started');
    if (!this.#pool) return; // closed
    const artifact = await this.#artifactOf(typeof wasm === 'string' ? await readFile(wasm) : wasm);
    const pool = this.#pool;
    if (!pool) return; // closed meanwhile
    if (pool.swap) return pool.swap(artifact);
    const next = await this.#startPool(artifact);
    if (this.#pool !== pool) return next.close(); // closed meanwhile
    this.#pool = next;
    await pool.close();
  }

  /**
   * Has the workers take requests from clients themselves (`AsyncWorkloadPool.listen`). False when they cannot
   * (sync workers; a module that cannot be interrupted): requests then come through `handle`.
   */
  async listen(listener: WorkerListener): Promise<boolean> {
    return (await this.#pool?.listen?.(listener)) ?? false;
  }

  /** Whether `listen` would have the workers listen (async workers whose modules can all be interrupted). */
  async canListen(): Promise<boolean> {
    return (await this.#pool?.canListen?.()) ?? false;
  }

  /** Stops the workers' own listeners (`listen`), letting their requests in flight finish for at most `graceMs`. */
  async unlisten(graceMs: number): Promise<void> {
    await this.#pool?.unlisten?.(graceMs);
  }

  /** Stops serving (later requests answer 503) once the requests in flight are done. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.close();
  }

  /** The component's artifact, transpiled (or from the cache); rejects with `ERR_WASM_INVALID` naming what is wrong. */
  async #artifactOf(bytes: Uint8Array): Promise<Artifact> {
    const spec = this.#spec!;
    const source = typeof spec.wasm === 'string' ? spec.wasm : spec.name;
    let importNames: string[];
    try {
      importNames = componentImportNames(bytes);
    } catch (err) {
      throw new MortarError('ERR_WASM_INVALID', [source, err instanceof Error ? err.message : String(err)]);
    }
    // Refused before it is transpiled: what it imports is read off the binary.
    const unserved = unservedImport(importNames);
    if (unserved) throw new MortarError('ERR_WASM_INVALID', [source, unserved]);
    const artifact = await this.#cache.get(bytes, source, spec.mode !== 'sync' ? asyncImportsOf(importNames) : undefined);
    if (!artifact.exports.some((e) => /^wasi:http\/incoming-handler@0\.2\.\d+$/.test(e))) {
      throw new MortarError('ERR_WASM_INVALID', [source, 'it does not export wasi:http/incoming-handler@0.2.x']);
    }
    return artifact;
  }

  async #startPool(artifact: Artifact): Promise<RequestPool> {
    const spec = this.#spec!;
    const endpoint = this.#endpoint!;
    const data: WorkloadWorkerData = {
      environment: spec.environment ?? {},
      responseBodyBytes: WORKLOAD_LIMITS.responseBodyBytes,
      outboundBodyBytes: WORKLOAD_LIMITS.outboundBodyBytes,
      appCallBytes: WORKLOAD_LIMITS.appCallBytes,
    };
    const callTimeoutMs = spec.requestTimeoutMs ?? WORKLOAD_LIMITS.requestTimeoutMs;
    const memoryLimitBytes = spec.memoryBytes ?? WORKLOAD_LIMITS.memoryBytes;
    if (spec.mode !== 'sync') {
      const pool = new AsyncWorkloadPool({
        name: spec.name,
        artifact,
        workers: Math.max(1, Math.min(spec.instances ?? 1, usableCores())),
        instancesPerWorker: WORKLOAD_LIMITS.asyncInstancesPerWorker,
        callTimeoutMs,
        memoryLimitBytes,
        endpoint,
        data,
        logger: this.#deps.logger,
      });
      await pool.start();
      return pool;
    }
    const host: BridgeHost = {
      attach: (bridge: MessagePort, reply: SharedArrayBuffer) => serveBridge(bridge, reply, endpoint),
      close: async () => {},
    };
    const pool = new InstancePool({
      name: spec.name,
      artifact,
      size: spec.instances ?? 1,
      callTimeoutMs,
      memoryLimitBytes,
      host,
      logger: this.#deps.logger,
      worker: { url: WORKER_URL, data: data as unknown as Record<string, unknown>, stateExports: true },
    });
    await pool.start();
    return { handle: (req) => pool.call(WORKLOAD_IFACE, WORKLOAD_FN, [req]) as Promise<WorkloadResponse | { error: string }>, close: () => pool.close() };
  }
}
