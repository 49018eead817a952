/**
 * The state block's one way into a state store component: typed calls to its `state-store` export (types
 * generated from `wit/state.wit`), whether it plans its reads (`read-plan`), and what its `state-error`
 * variants mean in Dapr's terms (status and message).
 *
 * The pattern of every block adapter: a class over one pool whose methods are the interface's functions,
 * each taking the call's deadline (`timeoutMs`, from `Resiliency.outbound`), and the block's error mapping
 * beside it. Nothing else in the block calls the pool.
 */
import type * as StateStore from '../../../generated/interfaces/mortar-component-state-store.js';
import type * as KeyListing from '../../../generated/interfaces/mortar-component-key-listing.js';
import type { KeyPage } from '../../../generated/interfaces/mortar-component-key-listing.js';
import type {
  BulkGetItem,
  DeleteRequest,
  GetRequest,
  Item,
  KeyedError,
  Metadata,
  Operation,
  SetRequest,
  StateError,
} from '../../../generated/interfaces/mortar-component-state-store.js';
import { GrpcCode, MortarError } from '../../errors.js';
import { ComponentCallError, type InstancePool } from '../../components/sandbox/pool.js';
import { typedCall, type TypedCall } from '../../components/sandbox/typed-call.js';
import { BLOCKS } from '../../building-blocks.js';

export type {
  BulkGetItem,
  Concurrency,
  Consistency,
  DeleteRequest,
  GetRequest,
  Item,
  KeyedError,
  Operation,
  SetRequest,
  StateError,
} from '../../../generated/interfaces/mortar-component-state-store.js';

/** Calls into one state store's pool. */
export class StoreClient {
  readonly #call: TypedCall<typeof StateStore>;
  readonly #listing: TypedCall<typeof KeyListing>;

  constructor(readonly pool: InstancePool) {
    this.#call = typedCall<typeof StateStore>(pool, BLOCKS.state.interfaces['state-store']);
    this.#listing = typedCall<typeof KeyListing>(pool, BLOCKS.state.interfaces['key-listing']);
  }

  /** The item, or undefined when the key does not exist. */
  get(request: GetRequest, timeoutMs?: number): Promise<Item | undefined> {
    return this.#call('get', [request], timeoutMs);
  }
  /** One entry per request, in order. */
  bulkGet(requests: GetRequest[], timeoutMs?: number): Promise<BulkGetItem[]> {
    return this.#call('bulkGet', [requests], timeoutMs);
  }
  set(request: SetRequest, timeoutMs?: number): Promise<void> {
    return this.#call('set', [request], timeoutMs);
  }
  /** The keys that failed (empty: all written). */
  bulkSet(requests: SetRequest[], timeoutMs?: number): Promise<KeyedError[]> {
    return this.#call('bulkSet', [requests], timeoutMs);
  }
  delete(request: DeleteRequest, timeoutMs?: number): Promise<void> {
    return this.#call('delete', [request], timeoutMs);
  }
  /** The keys that failed (empty: all deleted). */
  bulkDelete(requests: DeleteRequest[], timeoutMs?: number): Promise<KeyedError[]> {
    return this.#call('bulkDelete', [requests], timeoutMs);
  }
  transact(operations: Operation[], metadata: Metadata, timeoutMs?: number): Promise<void> {
    return this.#call('transact', [operations, metadata], timeoutMs);
  }
  /** One page of the keys beginning with `prefix` (`key-listing`; only for a store that exports it). */
  listKeys(prefix: string, cursor: string | undefined, limit: number, timeoutMs?: number): Promise<KeyPage> {
    return this.#listing('listKeys', [prefix, cursor, limit], timeoutMs);
  }

  /** The store exports `read-plan`: its reads do not hold an instance (the sandbox serves them as planned reads). */
  get plannedReads(): boolean {
    return this.pool.plannedReads;
  }
  /** How many reads to keep going at once to keep every instance busy (`InstancePool.readConcurrency`). */
  get readConcurrency(): number {
    return this.pool.readConcurrency;
  }
  /** See `InstancePool.stalledAfterMs`. */
  get stalledAfterMs(): number {
    return this.pool.stalledAfterMs;
  }
}

const clients = new WeakMap<InstancePool, StoreClient>();

/** The client of the store running in `pool` (one per pool: a reloaded store gets a fresh one). */
export function storeClient(pool: InstancePool): StoreClient {
  let c = clients.get(pool);
  if (!c) clients.set(pool, (c = new StoreClient(pool)));
  return c;
}

/** Dapr's status for a caller's error, as `MortarError` takes it, and the store's failure it stands for. */
export type Status = { http: number; grpc: number; cause?: unknown };

/** The store's `state-error` a call rejected with, if it did. */
function stateErrorOf(err: unknown): StateError | undefined {
  return err instanceof ComponentCallError ? (err.error as StateError) : undefined;
}

/** The bulk-set or bulk-delete failures of `failed` as one `state-error`: an ETag mismatch if any key had one, each key's message. */
export function keyedFailure(failed: readonly KeyedError[]): ComponentCallError {
  const mismatch = failed.find((f) => f.error.tag === 'etag-mismatch') ?? failed[0]!;
  return new ComponentCallError({ tag: mismatch.error.tag, val: failed.map((f) => `${f.key}: ${witText(f.error)}`).join('; ') });
}

function witText(e: { tag: string; val?: unknown }): string {
  switch (e.tag) {
    case 'etag-mismatch':
      return `possible etag mismatch. error from state store: ${e.val ?? ''}`.trim();
    case 'etag-invalid':
      return `invalid etag value: ${e.val ?? ''}`.trim();
    default:
      return (e.val as string | undefined) ?? e.tag;
  }
}

/** The message of a failed call as Dapr words it (an ETag mismatch says so), for any error. */
export function errorText(err: unknown): string {
  const e = stateErrorOf(err);
  if (e) return witText(e);
  return err instanceof Error ? err.message : String(err);
}

/**
 * Maps a failed call to the catalogue error `make` builds with Dapr's status: ETag mismatch 409, invalid ETag
 * 400, the rest 500. A sandbox failure (`ERR_COMPONENT_*`) is reported under the operation's own code.
 */
export function mapError(err: unknown, make: (msg: string, o?: Status) => MortarError): MortarError {
  if (err instanceof MortarError) return err.code.startsWith('ERR_COMPONENT_') ? make(err.message) : err;
  const tag = stateErrorOf(err)?.tag;
  if (tag === 'etag-mismatch') return make(errorText(err), { http: 409, grpc: GrpcCode.ABORTED, cause: err });
  if (tag === 'etag-invalid') return make(errorText(err), { http: 400, grpc: GrpcCode.INVALID_ARGUMENT, cause: err });
  return make(errorText(err));
}

/**
 * Whether a state operation's catalogue error is an ETag failure of the store (a mismatch, or an ETag the store
 * does not issue), whatever code and status it is reported under (a transaction's is a 500
 * `ERR_STATE_TRANSACTION`, as Dapr's): read from the store's `state-error` the error was made from (`cause`).
 */
export function etagFailureOf(err: unknown): 'etag-mismatch' | 'etag-invalid' | undefined {
  if (!(err instanceof MortarError)) return undefined;
  const tag = stateErrorOf(err.cause)?.tag;
  return tag === 'etag-mismatch' || tag === 'etag-invalid' ? tag : undefined;
}

/**
 * Whether a coalesced bulk-get that failed as a whole may have failed for one of its reads, so each is
 * retried alone: a trap, or an error the backend gave (a key it refuses). Not when the backend is
 * unreachable, nor past the deadline: a retry would only wait again.
 */
export function isolatable(err: unknown): boolean {
  if (err instanceof MortarError) return err.code === 'ERR_COMPONENT_TRAPPED';
  return err instanceof ComponentCallError && (err.error as StateError).tag !== 'unavailable';
}
