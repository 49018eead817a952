import { GrpcCode, MortarError } from '../../errors.js';
import type { ActiveComponent, ComponentRegistry } from '../../components/registry.js';
import { keyPrefix, keyUnder, storedKey } from './keys.js';
import { BLOCKS } from '../../building-blocks.js';
import { BulkItemError, GetBatcher } from './get-batcher.js';
import {
  errorText,
  isolatable,
  keyedFailure,
  mapError,
  storeClient,
  type Concurrency,
  type Consistency,
  type GetRequest,
  type Item,
  type Operation,
  type Status,
} from './store-client.js';
import type { Resiliency } from '../resiliency/resiliency.js';
import { checkTtl, InvalidTtl, TTL_KEY, withCheckedTtl } from '../ttl.js';

/** Request options as the Dapr API carries them (strings, validated here). */
export interface StateOptions {
  concurrency?: string;
  consistency?: string;
}

export interface SaveItem {
  key: string;
  value: Uint8Array;
  etag?: string;
  metadata: Record<string, string>;
  options?: StateOptions;
}

export interface DeleteItem {
  key: string;
  etag?: string;
  metadata: Record<string, string>;
  options?: StateOptions;
}

export interface GetResult {
  data: Uint8Array;
  etag?: string;
  metadata: Record<string, string>;
}

export interface BulkGetResult {
  key: string;
  item?: GetResult;
  error?: string;
}

export type TransactionOp = { operation: 'upsert'; request: SaveItem } | { operation: 'delete'; request: DeleteItem };

type Pairs = Array<[string, string]>;

/** A caller's mistake reported under an operation's own error code (as Dapr does for an invalid ETag). */
const BAD_REQUEST = { http: 400, grpc: GrpcCode.INVALID_ARGUMENT };

const CONCURRENCY = new Set(['first-write', 'last-write']);
const CONSISTENCY = new Set(['strong', 'eventual']);

/**
 * The state building block: the semantics shared by every state store, whatever its backend
 * (store lookup, key prefixes, option checks, error mapping). The universal API (`api/universal`) calls
 * this; each operation takes `appId`, the app its caller acts for, which its keys are prefixed with.
 */
export class StateService {
  constructor(
    readonly registry: ComponentRegistry,
    readonly resiliency: Resiliency,
  ) {}

  /** Runs one call to `store` under its outbound resiliency policy; `op` gets the call's deadline (`callTimeout`). */
  #run<T>(store: ActiveComponent, op: (timeoutMs: number) => Promise<T>): Promise<T> {
    return this.resiliency.outbound(store, 'state', op);
  }

  /** Finds a state store; ERR_STATE_STORE_NOT_CONFIGURED / _NOT_FOUND as Dapr reports them. */
  store(name: string): ActiveComponent {
    const c = this.registry.get(name);
    if (c?.block === 'state') return c;
    if (this.registry.byBlock('state').length === 0) throw new MortarError('ERR_STATE_STORE_NOT_CONFIGURED');
    throw new MortarError('ERR_STATE_STORE_NOT_FOUND', [name]);
  }

  /**
   * Whether `storeName` treats a save with `first-write` concurrency and no ETag as an insert-if-absent (its
   * component declares `FIRST_WRITE`; Dapr's conformance suite checks exactly that: a second such save of the
   * key fails with an ETag mismatch).
   */
  insertsIfAbsent(storeName: string): boolean {
    return this.store(storeName).module.descriptor.features.includes('FIRST_WRITE');
  }

  /** The key as stored: prefixed for `appId`, the app the caller acts for (see `keys.ts`). */
  #key(appId: string, store: ActiveComponent, key: string): string {
    return storedKey(keyPrefix(store.hostMetadata.keyPrefix, appId, store.name), key, store.name);
  }

  /**
   * One page of the keys `appId` sees in `storeName` (its key prefix stripped; keys it could not have saved, with
   * `||` after the prefix, left out), about `limit` of them, from
   * `cursor` on (the previous page's; `undefined` for the first). Only a store whose component exports
   * `key-listing` lists keys (ERR_STATE_STORE_NOT_SUPPORTED otherwise). Not a Dapr API: Wasm workloads'
   * key-value interfaces have it.
   */
  async listKeys(appId: string, storeName: string, cursor: string | undefined, limit: number): Promise<{ keys: string[]; cursor?: string }> {
    const store = this.store(storeName);
    if (!store.module.artifact.exports.includes(BLOCKS.state.interfaces['key-listing']))
      throw new MortarError('ERR_STATE_STORE_NOT_SUPPORTED', [storeName, 'listing keys']);
    const prefix = this.#key(appId, store, '');
    try {
      const page = await this.#run(store, (t) => storeClient(store.pool).listKeys(prefix, cursor, limit, t));
      const keys: string[] = [];
      for (const k of page.keys) {
        const key = keyUnder(prefix, k);
        if (key !== undefined) keys.push(key);
      }
      return { keys, cursor: page.cursor ?? undefined };
    } catch (err) {
      throw mapError(err, (msg, o) => new MortarError('ERR_STATE_LIST_KEYS', [storeName, msg], o));
    }
  }

  async get(appId: string, storeName: string, key: string, consistency: string | undefined, metadata: Record<string, string>): Promise<GetResult | undefined> {
    const store = this.store(storeName);
    const k = this.#key(appId, store, key);
    const cons = consistencyOf(consistency);
    try {
      const read = { key: k, consistency: cons, metadata: pairs(metadata) };
      const batcher = this.#batcher(store);
      const item = await this.#run(store, (t) => batcher.get(read, t));
      return item ? fromWit(item) : undefined;
    } catch (err) {
      if (err instanceof BulkItemError) throw new MortarError('ERR_STATE_GET', [key, storeName, err.message]);
      throw mapError(err, (msg, o) => new MortarError('ERR_STATE_GET', [key, storeName, msg], o));
    }
  }

  /** One read batcher per running component version (a reloaded component gets a fresh one). */
  readonly #batchers = new WeakMap<ActiveComponent, GetBatcher<Item>>();

  #batcher(store: ActiveComponent): GetBatcher<Item> {
    let b = this.#batchers.get(store);
    if (!b) {
      const client = storeClient(store.pool);
      b = new GetBatcher<Item>(
        {
          get: (read, t) => client.get(read, t),
          bulkGet: async (reads, t) => (await client.bulkGet(reads, t)).map((r) => ({ item: r.item ?? undefined, error: r.error ?? undefined })),
        },
        Math.max(1, client.readConcurrency),
        isolatable,
        // Planned reads do not hold their instance, so a read on a frozen backend stalls nothing to relieve.
        client.plannedReads ? Infinity : client.stalledAfterMs,
      );
      this.#batchers.set(store, b);
    }
    return b;
  }

  async bulkGet(appId: string, storeName: string, keys: readonly string[], metadata: Record<string, string>): Promise<BulkGetResult[]> {
    const store = this.store(storeName);
    const reqs = keys.map((key): GetRequest => ({ key: this.#key(appId, store, key), consistency: 'strong', metadata: pairs(metadata) }));
    if (reqs.length === 0) return [];
    try {
      const out = await this.#run(store, (t) => storeClient(store.pool).bulkGet(reqs, t));
      return out.map((r, i) => ({ key: keys[i]!, item: r.item ? fromWit(r.item) : undefined, error: r.error ?? undefined }));
    } catch (err) {
      throw mapError(err, (msg, o) => new MortarError('ERR_STATE_BULK_GET', [storeName, msg], o));
    }
  }

  async save(appId: string, storeName: string, items: readonly SaveItem[]): Promise<void> {
    const store = this.store(storeName);
    const reqs = items.map((it) => this.#setRequest(appId, store, it, (msg) => new MortarError('ERR_STATE_SAVE', [storeName, msg], BAD_REQUEST)));
    if (reqs.length === 0) return;
    const fail = (msg: string, o?: Status) => new MortarError('ERR_STATE_SAVE', [storeName, msg], o);
    try {
      if (reqs.length === 1) {
        await this.#run(store, (t) => storeClient(store.pool).set(reqs[0]!, t));
        return;
      }
      await this.#run(store, async (t) => {
        const failed = await storeClient(store.pool).bulkSet(reqs, t);
        if (failed.length > 0) throw keyedFailure(failed);
      });
    } catch (err) {
      throw mapError(err, fail);
    }
  }

  async delete(appId: string, storeName: string, item: DeleteItem): Promise<void> {
    const store = this.store(storeName);
    const req = this.#deleteRequest(appId, store, item);
    try {
      await this.#run(store, (t) => storeClient(store.pool).delete(req, t));
    } catch (err) {
      throw mapError(err, (msg, o) => new MortarError('ERR_STATE_DELETE', [item.key, msg], o));
    }
  }

  /**
   * Deletes several keys (gRPC `DeleteBulkState`; Dapr's HTTP API has no such route): one `delete` for a
   * single item, else one `bulk-delete`, as daprd's `PerformBulkStoreOperation`. Failures are
   * `ERR_STATE_DELETE` naming the keys (409 / 400 for ETag mismatch / invalid ETag, as for a single delete);
   * daprd's gRPC answer has a message of its own (`failed deleting state in state store %s: %s`), for the
   * gRPC transport to add to the catalogue.
   */
  async bulkDelete(appId: string, storeName: string, items: readonly DeleteItem[]): Promise<void> {
    const store = this.store(storeName);
    const reqs = items.map((it) => this.#deleteRequest(appId, store, it));
    if (reqs.length === 0) return;
    const fail = (msg: string, o?: Status) => new MortarError('ERR_STATE_DELETE', [items.map((it) => it.key).join(', '), msg], o);
    try {
      if (reqs.length === 1) {
        await this.#run(store, (t) => storeClient(store.pool).delete(reqs[0]!, t));
        return;
      }
      await this.#run(store, async (t) => {
        const failed = await storeClient(store.pool).bulkDelete(reqs, t);
        if (failed.length > 0) throw keyedFailure(failed);
      });
    } catch (err) {
      throw mapError(err, fail);
    }
  }

  async transact(appId: string, storeName: string, ops: readonly TransactionOp[], metadata: Record<string, string>): Promise<void> {
    const store = this.store(storeName);
    if (!store.features.includes('TRANSACTIONAL')) {
      throw new MortarError('ERR_STATE_STORE_NOT_SUPPORTED', [storeName, 'transactions']).with({
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED',
        domain: 'dapr.io',
        metadata: { appID: appId },
      });
    }
    const witOps = ops.map((op): Operation => {
      if (op.operation === 'upsert')
        return { tag: 'upsert', val: this.#setRequest(appId, store, op.request, (msg) => new MortarError('ERR_STATE_TRANSACTION', [msg], BAD_REQUEST)) };
      if (op.operation === 'delete') return { tag: 'delete', val: this.#deleteRequest(appId, store, op.request) };
      throw new MortarError('ERR_NOT_SUPPORTED_STATE_OPERATION', [(op as { operation: string }).operation]);
    });
    if (witOps.length === 0) return;
    try {
      await this.#run(store, (t) => storeClient(store.pool).transact(witOps, pairs(metadata), t));
    } catch (err) {
      // Dapr reports every transaction failure, ETag mismatches included, as 500 ERR_STATE_TRANSACTION.
      if (err instanceof MortarError) throw err;
      throw new MortarError('ERR_STATE_TRANSACTION', [errorText(err)], { cause: err });
    }
  }

  /**
   * State query (`/v1.0-alpha1/state/{store}/query`). No state-store world has a query export yet, so a
   * store is queryable only if it declares `QUERY_API`, which none does: Dapr's answer for such a store.
   */
  query(appId: string, storeName: string): never {
    const store = this.store(storeName);
    throw new MortarError('ERR_STATE_STORE_NOT_SUPPORTED', [storeName, 'query']).with({
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'DAPR_STATE_QUERYING_NOT_SUPPORTED',
      domain: 'dapr.io',
      metadata: { appID: appId, store: store.name },
    });
  }

  /** The WIT set request for `it`; the TTL rule is applied here, once, for save, bulk save and transactions. */
  #setRequest(appId: string, store: ActiveComponent, it: SaveItem, invalid: (msg: string) => MortarError) {
    const { concurrency, consistency } = checkOptions(it.options);
    const key = this.#key(appId, store, it.key);
    let metadata = it.metadata;
    if (TTL_KEY in metadata) {
      try {
        metadata = withCheckedTtl(metadata, checkTtl(metadata[TTL_KEY]), true);
      } catch (err) {
        if (err instanceof InvalidTtl) throw invalid(`key ${it.key}: ${err.message}`);
        throw err;
      }
    }
    return { key, value: it.value, etag: it.etag === '' ? undefined : it.etag, concurrency, consistency, metadata: pairs(metadata) };
  }

  #deleteRequest(appId: string, store: ActiveComponent, it: DeleteItem) {
    const { concurrency, consistency } = checkOptions(it.options);
    return { key: this.#key(appId, store, it.key), etag: it.etag === '' ? undefined : it.etag, concurrency, consistency, metadata: pairs(it.metadata) };
  }
}

function checkOptions(o: StateOptions | undefined): { concurrency: Concurrency; consistency: Consistency } {
  const concurrency = o?.concurrency || 'last-write';
  const consistency = o?.consistency || 'eventual';
  if (!CONCURRENCY.has(concurrency))
    throw new MortarError('ERR_MALFORMED_REQUEST', [`invalid concurrency option '${concurrency}': must be first-write or last-write`]);
  if (!CONSISTENCY.has(consistency))
    throw new MortarError('ERR_MALFORMED_REQUEST', [`invalid consistency option '${consistency}': must be strong or eventual`]);
  return { concurrency: concurrency as Concurrency, consistency: consistency as Consistency };
}

function consistencyOf(c: string | undefined): Consistency {
  const v = c || 'eventual';
  if (!CONSISTENCY.has(v)) throw new MortarError('ERR_MALFORMED_REQUEST', [`invalid consistency option '${v}': must be strong or eventual`]);
  return v as Consistency;
}

function pairs(m: Record<string, string>): Pairs {
  return Object.entries(m);
}

function fromWit(item: Item): GetResult {
  return { data: item.data, etag: item.etag ?? undefined, metadata: Object.fromEntries(item.metadata) };
}
