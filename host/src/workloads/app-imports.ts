/**
 * `mortar:app` (wit/deps/app/app.wit), the building blocks a Wasm workload imports, as plain async functions
 * over the universal API: the Wasm face beside the HTTP routes and the gRPC service, and like them it only
 * translates. Each WIT function becomes one `UniversalApi` call made for the workload's `Caller` (its own app
 * id, transport `wasm`), and every catalogue error becomes the WIT `app-error` case it stands for, carrying the
 * code and message an HTTP app would get.
 *
 * The workload engine serves these for a guest whose imports are synchronous: the guest's import
 * (`components/sandbox/app-guest-imports.ts`) posts the operation and its arguments (as jco lifts them) over the
 * instance's bridge and blocks until the promise settles; `WorkloadEndpoint` dispatches it on this table. A table
 * entry resolves with the WIT function's `ok` value (or its plain return value) and rejects with the `app-error`
 * value (`{tag, val}`), which the bridge hands the guest as the result's `err`: the contract of
 * `HostEndpoint.dispatch`. The argument and result types come from the WIT
 * (`host/generated/interfaces/mortar-app-*.d.ts`).
 */
import type * as Bindings from '../../generated/interfaces/mortar-app-bindings.js';
import type * as Metadata from '../../generated/interfaces/mortar-app-metadata.js';
import type * as PubSub from '../../generated/interfaces/mortar-app-pubsub.js';
import type * as State from '../../generated/interfaces/mortar-app-state.js';
import type { AppError, Metadata as Pairs } from '../../generated/interfaces/mortar-app-types.js';
import { APP_INTERFACES, APP_PACKAGE_VERSION, jcoName } from '../components/sandbox/app-guest-imports.js';
import { MortarError } from '../errors.js';
import type { Caller } from '../api/universal/caller.js';
import { etagFailureOf } from '../api/universal/failures.js';
import type { DeleteItem, SaveItem, TransactionOp } from '../api/universal/requests.js';
import type { UniversalApi } from '../api/universal/universal-api.js';

export { APP_INTERFACES, APP_PACKAGE_VERSION };

/** A `mortar:app` interface's name. */
export type AppInterface = keyof typeof APP_INTERFACES;

/** What one interface's functions are, as jco lifts and lowers them (`host/generated`). */
type Functions<M> = { [F in keyof M]: M[F] extends (...a: infer A) => infer R ? (...a: A) => Promise<R> : never };

/** The `mortar:app` imports for one caller, by interface and jco's function name (`state.getBulk`). */
export interface AppImports {
  readonly state: Functions<typeof State>;
  readonly pubsub: Functions<typeof PubSub>;
  readonly bindings: Functions<typeof Bindings>;
  readonly metadata: Functions<typeof Metadata>;
}

/** One operation of the table: the WIT function's arguments, as jco lifts them, in order. */
export type AppOperation = (args: readonly unknown[]) => Promise<unknown>;

/**
 * The table the engine's bridge dispatches on: operation `<interface>.<wit-function>` (`state.get`,
 * `pubsub.publish-bulk`, `metadata.app-id`) to its function. Rejects with an `AppError`.
 */
export type AppImportTable = Readonly<Record<string, AppOperation>>;

/** The part of the universal API the imports call. */
export type AppApi = Pick<
  UniversalApi,
  | 'getState'
  | 'getBulkState'
  | 'saveState'
  | 'deleteState'
  | 'deleteBulkState'
  | 'executeStateTransaction'
  | 'publishEvent'
  | 'bulkPublishEvent'
  | 'invokeBinding'
  | 'getMetadata'
>;

/** The `mortar:app` imports of a workload calling as `caller`. */
export function appImports(api: AppApi, caller: Caller): AppImports {
  const guard =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R> | R) =>
    async (...a: A): Promise<R> => {
      try {
        return await fn(...a);
      } catch (err) {
        throw toAppError(err);
      }
    };
  const state: Functions<typeof State> = {
    get: guard(async (store, key, consistency, metadata) => {
      const item = await api.getState(caller, store, { key, consistency, metadata: record(metadata, 'metadata') });
      return item && { value: item.data, etag: item.etag, metadata: pairs(item.metadata) };
    }),
    getBulk: guard(async (store, keys, metadata) => {
      const items = await api.getBulkState(caller, store, { keys, metadata: record(metadata, 'metadata') });
      return items.map((b) => ({
        key: b.key,
        item: b.item && { value: b.item.data, etag: b.item.etag, metadata: pairs(b.item.metadata) },
        error: b.error,
      }));
    }),
    save: guard((store, items) => api.saveState(caller, store, items.map(saveItem))),
    delete: guard((store, item) => api.deleteState(caller, store, deleteItem(item))),
    deleteBulk: guard((store, items) => api.deleteBulkState(caller, store, items.map(deleteItem))),
    transact: guard((store, operations, metadata) =>
      api.executeStateTransaction(caller, store, { operations: operations.map(transactionOp), metadata: record(metadata, 'metadata') }),
    ),
  };
  const pubsub: Functions<typeof PubSub> = {
    publish: guard((name, topic, message) =>
      api.publishEvent(caller, { pubsub: name, topic, data: message.data, contentType: message.contentType, metadata: messageMetadata(message) }),
    ),
    publishBulk: guard(async (name, topic, entries, metadata) => {
      const { failedEntries } = await api.bulkPublishEvent(caller, {
        pubsub: name,
        topic,
        entries: entries.map((e) => ({
          entryId: e.entryId,
          event: e.message.data,
          // As Dapr's HTTP API for an entry without one: bytes are text unless said otherwise.
          contentType: e.message.contentType || 'text/plain',
          metadata: messageMetadata(e.message),
        })),
        metadata: record(metadata, 'metadata'),
      });
      return failedEntries.map((f) => ({ entryId: f.entryId, error: f.error }));
    }),
  };
  const bindings: Functions<typeof Bindings> = {
    invoke: guard(async (name, request) => {
      const res = await api.invokeBinding(caller, { name, operation: request.operation, data: request.data, metadata: record(request.metadata, 'metadata') });
      return res && { data: res.data, metadata: pairs(res.metadata), contentType: res.contentType };
    }),
  };
  const metadata: Functions<typeof Metadata> = {
    get: guard(() => {
      const m = api.getMetadata(caller);
      return {
        id: m.id,
        runtimeVersion: m.runtimeVersion,
        enabledFeatures: [...m.enabledFeatures],
        components: m.components.map((c) => ({ name: c.name, type: c.type, version: c.version, capabilities: [...c.capabilities] })),
        extended: pairs(m.extended),
        subscriptions: m.subscriptions.map((s) => ({
          pubsubName: s.pubsubname,
          topic: s.topic,
          metadata: pairs(s.metadata),
          rules: s.rules.map((r) => ({ match: r.match, path: r.path })),
          deadLetterTopic: s.deadLetterTopic,
          type: s.type,
        })),
      };
    }),
    appId: guard(() => caller.appId),
  };
  return { state, pubsub, bindings, metadata };
}

/** The same imports as a flat table of operations (see `AppImportTable`), for the engine's bridge. */
export function appImportTable(api: AppApi, caller: Caller): AppImportTable {
  const imports = appImports(api, caller) as unknown as Record<AppInterface, Record<string, (...a: unknown[]) => Promise<unknown>>>;
  const table: Record<string, AppOperation> = {};
  for (const [iface, fns] of Object.entries(APP_INTERFACES) as Array<[AppInterface, readonly string[]]>) {
    for (const fn of fns) {
      const f = imports[iface][jcoName(fn)]!;
      table[`${iface}.${fn}`] = (args) => f(...args);
    }
  }
  return table;
}

/**
 * The `app-error` case a failed call stands for, with the catalogue's code and message. ETag failures come
 * first (whatever code they are reported under), then the codes that name a case, then by status: a caller's
 * mistake (a 4xx, as the catalogue or the throw site sets it: a bad TTL is a 400 `ERR_STATE_SAVE`) is
 * `bad-request`, anything else `internal`.
 */
export function toAppError(err: unknown): AppError {
  if (!(err instanceof MortarError)) return { tag: 'internal', val: { code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) } };
  const val = { code: err.code, message: err.message };
  const etag = etagFailureOf(err);
  if (etag) return { tag: etag, val };
  const tag = CASE_OF_CODE[err.code] ?? (err.http < 500 ? 'bad-request' : 'internal');
  return { tag, val };
}

/** The codes that name an `app-error` case of their own. */
const CASE_OF_CODE: Readonly<Partial<Record<MortarError['code'], AppError['tag']>>> = {
  ERR_STATE_STORE_NOT_CONFIGURED: 'not-configured',
  ERR_PUBSUB_NOT_CONFIGURED: 'not-configured',
  ERR_STATE_STORE_NOT_FOUND: 'not-found',
  ERR_PUBSUB_NOT_FOUND: 'not-found',
  ERR_PUBSUB_FORBIDDEN: 'forbidden',
  ERR_STATE_STORE_NOT_SUPPORTED: 'not-supported',
  ERR_NOT_SUPPORTED_STATE_OPERATION: 'not-supported',
  ERR_API_UNIMPLEMENTED: 'not-supported',
};

/** The metadata key `ttl-in-seconds` stands for (Dapr's `metadata.ttlInSeconds`). */
const TTL_KEY = 'ttlInSeconds';

function saveItem(it: State.SaveItem): SaveItem {
  const metadata = record(it.metadata, `key ${it.key}: metadata`);
  if (it.ttlInSeconds !== undefined) {
    if (TTL_KEY in metadata) {
      throw new MortarError('ERR_BAD_REQUEST', [`key ${it.key}: ttl-in-seconds and metadata ${TTL_KEY} are both given; give one`]);
    }
    metadata[TTL_KEY] = String(it.ttlInSeconds);
  }
  return { key: it.key, value: it.value, etag: it.etag, metadata, options: { concurrency: it.concurrency, consistency: it.consistency } };
}

function deleteItem(it: State.DeleteItem): DeleteItem {
  return {
    key: it.key,
    etag: it.etag,
    metadata: record(it.metadata, `key ${it.key}: metadata`),
    options: { concurrency: it.concurrency, consistency: it.consistency },
  };
}

function transactionOp(op: State.TransactionOp): TransactionOp {
  return op.tag === 'upsert' ? { operation: 'upsert', request: saveItem(op.val) } : { operation: 'delete', request: deleteItem(op.val) };
}

/** A message's metadata, with `rawPayload=true` when `raw-payload` says so. */
function messageMetadata(m: PubSub.Message): Record<string, string> {
  const md = record(m.metadata, 'message metadata');
  if (m.rawPayload) md.rawPayload = 'true';
  return md;
}

/** WIT metadata pairs as the universal API takes them; a key given twice is a `bad-request` naming it. */
function record(p: Pairs, where: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of p) {
    if (k in out) throw new MortarError('ERR_BAD_REQUEST', [`${where}: key '${k}' is given twice`]);
    out[k] = v;
  }
  return { ...out };
}

function pairs(r: Readonly<Record<string, string>>): Pairs {
  return Object.entries(r);
}
