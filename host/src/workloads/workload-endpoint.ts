/**
 * What a workload's guest imports reach on the main thread: one `HostEndpoint` per workload, serving the
 * bridge operations its instances send (`components/sandbox/workload-imports.ts` lists them).
 *
 * - Key-value goes to the state building block through the universal API, as the caller
 *   `{appId: <the workload's app id>, transport: 'wasm'}`: a label maps to a state store (`default` to
 *   `statestore`, any other label to the store of its own name, unless `storeOf` says otherwise), and keys get
 *   the app id's prefix by Dapr's `keyPrefix` rules, so an HTTP app with the same app id reads them through
 *   `/v1.0/state`. Values are bytes, stored as given. The atomics' compare-and-swap is a save with the ETag
 *   the read returned and first-write concurrency.
 * - Variables and config come from a map of resolved values.
 * - Outbound HTTP is sent only to an allowed origin (`http`'s grant rule), with the `mortar:host/http` `send`.
 * - `mortar:app` calls (`app.<interface>.<function>`) go to the workload's `appImportTable` (`app-imports.ts`),
 *   for the same caller.
 */
import type { HostEndpoint } from '../capabilities/bridge.js';
import { Grants, originOf } from '../capabilities/grants.js';
import { send } from '../capabilities/http.js';
import type { Logger } from '../logger.js';
import type { Caller } from '../api/universal/caller.js';
import type { UniversalApi } from '../api/universal/universal-api.js';
import { MortarError } from '../errors.js';
import { APP_OP_PREFIX } from '../components/sandbox/app-guest-imports.js';
import { type AppApi, type AppImportTable, appImportTable } from './app-imports.js';
import { WORKLOAD_LIMITS } from './limits.js';

/** The part of the universal API a workload's imports use (key-value and `mortar:app`). */
export type WorkloadApi = AppApi &
  Pick<UniversalApi, 'getState' | 'saveState' | 'deleteState' | 'getBulkState' | 'deleteBulkState' | 'getMetadata' | 'stateInsertsIfAbsent' | 'listStateKeys'>;

/** A guest's outbound request as the worker sends it (`sandbox/wasi-http.ts` `OutboundRequest`). */
interface Outbound {
  method: string;
  url: string;
  headers: Array<[string, Uint8Array]>;
  body: Uint8Array;
  timeoutMs?: number;
}

export interface WorkloadEndpointOptions {
  readonly appId: string;
  readonly name: string;
  readonly api: WorkloadApi;
  readonly logger: Logger;
  /** The key-value labels the guest may open (Spin's `key_value_stores`). */
  readonly keyValueStores: readonly string[];
  /** The state store a label maps to (a runtime config's `[key_value_store.<label>]`); absent: the default rule. */
  readonly storeOf: Readonly<Record<string, string>>;
  /** Resolved variables (Spin's `variables`), also served as `wasi:config/store`. */
  readonly variables: Readonly<Record<string, string>>;
  /** Origins the guest may call (`http://host:port`, the scheme's port added when absent); `*` allows any. */
  readonly allowedOrigins: readonly string[];
  /** Whether the guest may call a URL; when given, it decides instead of `allowedOrigins`. */
  readonly allowOutbound?: (url: string) => boolean;
}

/** The state store a key-value label names by default: `default` is `statestore`, any other its own name. */
export function defaultStoreOf(label: string): string {
  return label === 'default' ? 'statestore' : label;
}

/** Spin's variable names: a lower-case letter, then lower-case letters, digits and underscores. */
const VARIABLE_NAME = /^[a-z][a-z0-9_]*$/;
const latin1 = new TextDecoder('latin1');

export class WorkloadEndpoint implements HostEndpoint {
  readonly #caller: Caller;
  readonly #grants = new Grants();
  readonly #anyOrigin: boolean;
  /** Stores an `open` found (a store removed later fails its calls with no-such-store all the same). */
  readonly #known = new Set<string>();
  readonly #app: AppImportTable;

  constructor(private readonly opts: WorkloadEndpointOptions) {
    this.#caller = { appId: opts.appId, transport: 'wasm' };
    this.#app = appImportTable(opts.api, this.#caller);
    this.#anyOrigin = opts.allowedOrigins.includes('*');
    for (const o of opts.allowedOrigins) if (o !== '*') this.#grants.add('http', o);
  }

  log(level: string, message: string): void {
    const l = (['trace', 'debug', 'info', 'warn', 'error'].includes(level) ? level : 'info') as 'info';
    this.opts.logger[l]({ workload: this.opts.name }, message);
  }

  async close(): Promise<void> {}

  async dispatch(op: string, args: readonly unknown[], budget: number): Promise<unknown> {
    const deadline = performance.now() + budget;
    if (op.startsWith(APP_OP_PREFIX)) {
      const f = this.#app[op.slice(APP_OP_PREFIX.length)];
      if (!f) throw { tag: 'internal', val: { code: 'ERR_INTERNAL', message: `no mortar:app operation ${op}` } };
      return f(args);
    }
    switch (op) {
      case 'kv.open':
        return this.#open(String(args[0]));
      case 'kv.get':
        return (await this.#read(args))?.data;
      case 'kv.exists':
        return (await this.#read(args)) !== undefined;
      case 'kv.read': {
        const item = await this.#read(args);
        return { value: item?.data, etag: item?.etag };
      }
      case 'kv.set':
        return this.#kv(args, (store) => this.opts.api.saveState(this.#caller, store, [{ key: String(args[1]), value: bytes(args[2]), metadata: {} }]));
      case 'kv.delete':
        return this.#kv(args, (store) => this.opts.api.deleteState(this.#caller, store, { key: String(args[1]), metadata: {} }));
      case 'kv.swap':
        return this.#swap(String(args[0]), String(args[1]), args[2] as string | undefined, bytes(args[3]));
      case 'kv.increment':
        return this.#increment(String(args[0]), String(args[1]), BigInt(String(args[2])));
      case 'kv.get-many':
        return this.#kv(args, async (store) => {
          const keys = batch<string>(args[1]).map(String);
          const items = await this.opts.api.getBulkState(this.#caller, store, { keys, metadata: {} });
          const found = new Map(items.map((i) => [i.key, i]));
          return keys.map((k) => {
            const i = found.get(k);
            if (i?.error) throw { tag: 'other', val: `${k}: ${i.error}` };
            return i?.item?.data;
          });
        });
      case 'kv.set-many':
        return this.#kv(args, (store) =>
          this.opts.api.saveState(
            this.#caller,
            store,
            batch<[string, Uint8Array]>(args[1]).map(([key, value]) => ({ key: String(key), value: bytes(value), metadata: {} })),
          ),
        );
      case 'kv.delete-many':
        return this.#kv(args, (store) =>
          this.opts.api.deleteBulkState(
            this.#caller,
            store,
            batch<string>(args[1]).map((key) => ({ key: String(key), metadata: {} })),
          ),
        );
      case 'kv.keys':
        return this.#kv(args, (store) => this.#allKeys(store, deadline));
      case 'kv.list-keys':
        return this.#kv(args, (store) =>
          this.opts.api.listStateKeys(this.#caller, store, args[1] === undefined ? undefined : String(args[1]), WORKLOAD_LIMITS.listPageKeys),
        );
      case 'var.get': {
        const name = String(args[0]);
        if (!VARIABLE_NAME.test(name)) throw { tag: 'invalid-name', val: `'${name}' is not a variable name (lower-case letters, digits, _)` };
        const v = this.opts.variables[name];
        if (v === undefined) throw { tag: 'undefined', val: `no variable '${name}'` };
        return v;
      }
      case 'config.get':
        return this.opts.variables[String(args[0])];
      case 'config.get-all':
        return Object.entries(this.opts.variables);
      case 'http.send':
        return this.#send(args[0] as Outbound, deadline);
      default:
        throw { tag: 'other', val: `unknown workload operation ${op}` };
    }
  }

  /** The state store behind `label`, if the guest may open it (else a `{tag}` error). */
  #store(label: string): string {
    if (!this.opts.keyValueStores.includes(label)) throw { tag: 'access-denied', val: `key-value store '${label}' is not in the component's key_value_stores` };
    return this.opts.storeOf[label] ?? defaultStoreOf(label);
  }

  #open(label: string): void {
    const store = this.#store(label);
    if (this.#known.has(store)) return;
    const found = this.opts.api.getMetadata(this.#caller).components.some((c) => c.name === store && c.type.startsWith('state.'));
    if (found) this.#known.add(store);
    else throw { tag: 'no-such-store', val: `key-value store '${label}': no state store named '${store}'` };
  }

  /** Runs one state call for label `args[0]`, its catalogue errors as key-value errors. */
  async #kv<T>(args: readonly unknown[], f: (store: string) => Promise<T>): Promise<T> {
    const store = this.#store(String(args[0]));
    try {
      return await f(store);
    } catch (err) {
      throw kvError(err);
    }
  }

  /** Every key of the workload's in `store`, page after page (Spin's `get-keys` has no paging): repeats dropped, at most `WORKLOAD_LIMITS.listedKeys`. */
  async #allKeys(store: string, deadline: number): Promise<string[]> {
    const keys = new Set<string>();
    let cursor: string | undefined;
    do {
      if (performance.now() >= deadline) throw { tag: 'other', val: `listing the keys of ${store} ran out of time after ${keys.size} keys` };
      const page = await this.opts.api.listStateKeys(this.#caller, store, cursor, WORKLOAD_LIMITS.listPageKeys);
      for (const k of page.keys) keys.add(k);
      if (keys.size > WORKLOAD_LIMITS.listedKeys)
        throw { tag: 'other', val: `${store} holds more than the ${WORKLOAD_LIMITS.listedKeys} keys get-keys returns at once` };
      cursor = page.cursor;
    } while (cursor !== undefined);
    return [...keys];
  }

  #read(args: readonly unknown[]) {
    return this.#kv(args, (store) => this.opts.api.getState(this.#caller, store, { key: String(args[1]), metadata: {} }));
  }

  /**
   * Saves `value` if the key still has `etag` (the one a `cas` read). A key that was missing when read is saved
   * only if it is still missing: on a store that declares `FIRST_WRITE` that is one first-write save without an
   * ETag, which the store performs as an insert-if-absent (atomic); on any other store it is checked, then
   * saved (not atomic: Dapr's API has no other insert-if-absent). Another writer first: `cas-failed`.
   */
  async #swap(label: string, key: string, etag: string | undefined, value: Uint8Array): Promise<void> {
    const store = this.#store(label);
    try {
      if (etag === undefined && this.opts.api.stateInsertsIfAbsent(this.#caller, store)) {
        await this.opts.api.saveState(this.#caller, store, [{ key, value, metadata: {}, options: { concurrency: 'first-write' } }]);
        return;
      }
      if (etag === undefined) {
        if ((await this.opts.api.getState(this.#caller, store, { key, metadata: {} })) !== undefined) throw { tag: 'cas-failed' };
        await this.opts.api.saveState(this.#caller, store, [{ key, value, metadata: {} }]);
        return;
      }
      await this.opts.api.saveState(this.#caller, store, [{ key, value, etag, metadata: {}, options: { concurrency: 'first-write' } }]);
    } catch (err) {
      if (err instanceof MortarError && err.http === 409) throw { tag: 'cas-failed' };
      throw kvError(err);
    }
  }

  /** Adds `delta` to the decimal integer stored at `key` (missing: 0), by compare-and-swap; answers the new value. */
  async #increment(label: string, key: string, delta: bigint): Promise<string> {
    const store = this.#store(label);
    for (let attempt = 0; attempt < WORKLOAD_LIMITS.incrementAttempts; attempt++) {
      let item: Awaited<ReturnType<WorkloadApi['getState']>>;
      try {
        item = await this.opts.api.getState(this.#caller, store, { key, metadata: {} });
      } catch (err) {
        throw kvError(err);
      }
      const text = item ? Buffer.from(item.data).toString('utf8').trim() : '0';
      if (!/^-?\d+$/.test(text)) throw { tag: 'other', val: `key '${key}' does not hold an integer` };
      const next = (BigInt(text) + delta).toString();
      try {
        await this.#swap(label, key, item?.etag, Buffer.from(next));
        return next;
      } catch (err) {
        if ((err as { tag?: string }).tag !== 'cas-failed') throw err;
      }
    }
    throw { tag: 'other', val: `increment of '${key}': ${WORKLOAD_LIMITS.incrementAttempts} attempts lost to other writers` };
  }

  async #send(req: Outbound, deadline: number): Promise<unknown> {
    const origin = originOf(req.url);
    if (origin === undefined) throw { tag: 'HTTP-request-URI-invalid' };
    const allowed = this.opts.allowOutbound ? this.opts.allowOutbound(req.url) : this.#anyOrigin || this.#grants.allows('http', origin);
    if (!allowed) {
      this.opts.logger.warn(
        { workload: this.opts.name, origin },
        `workload ${this.opts.name}: outbound request to ${origin} refused: not an allowed outbound host`,
      );
      throw { tag: 'HTTP-request-denied' };
    }
    try {
      const res = await send(
        { method: req.method, url: req.url, headers: req.headers.map(([n, v]) => [n, latin1.decode(v)]), body: req.body, timeoutMs: req.timeoutMs },
        deadline,
      );
      return { status: res.status, headers: res.headers.map(([n, v]) => [n, Buffer.from(v, 'latin1')]), body: res.body };
    } catch (err) {
      const e = err as { tag?: string; val?: unknown };
      if (e.tag === 'invalid-request') throw { tag: 'HTTP-protocol-error' };
      if (e.tag === 'too-large') throw { tag: 'HTTP-response-body-size', val: undefined };
      if (e.tag === 'unavailable') throw { tag: 'connection-refused' };
      throw { tag: 'internal-error', val: String(e.val ?? err) };
    }
  }
}

function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw { tag: 'other', val: 'a key-value value must be bytes' };
  if (v.byteLength > WORKLOAD_LIMITS.valueBytes)
    throw { tag: 'other', val: `a key-value value of ${v.byteLength} bytes is over the ${WORKLOAD_LIMITS.valueBytes} a workload may write` };
  return v;
}

/** The keys (or pairs) of a batch call, at most `WORKLOAD_LIMITS.batchKeys`. */
function batch<T>(v: unknown): T[] {
  if (!Array.isArray(v)) throw { tag: 'other', val: 'a batch must be a list' };
  if (v.length > WORKLOAD_LIMITS.batchKeys)
    throw { tag: 'other', val: `a batch of ${v.length} keys is over the ${WORKLOAD_LIMITS.batchKeys} a workload may send at once` };
  return v as T[];
}

/** A state error as a key-value error: an unknown store is `no-such-store`, anything else `other`. */
function kvError(err: unknown): { tag: string; val?: string } {
  if (err && typeof err === 'object' && 'tag' in err) return err as { tag: string; val?: string };
  if (err instanceof MortarError && (err.code === 'ERR_STATE_STORE_NOT_FOUND' || err.code === 'ERR_STATE_STORE_NOT_CONFIGURED'))
    return { tag: 'no-such-store', val: err.message };
  return { tag: 'other', val: err instanceof Error ? err.message : String(err) };
}
