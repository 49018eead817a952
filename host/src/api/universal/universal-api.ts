/**
 * The universal API (daprd `pkg/api/universal`): one method per Dapr operation, for every transport. HTTP
 * (`api/http`) and gRPC (`api/grpc`) call it today; Wasm guests calling the building blocks through WIT
 * imports will call the same methods. Each takes the `Caller` and a typed request, returns a typed result, and throws
 * catalogue errors (`errors.ts`). Access checks happen here, once; nothing here assumes JSON or HTTP.
 */
import { MortarError } from '../../errors.js';
import type { StateService } from '../../blocks/state/state-service.js';
import type { PubSubService } from '../../blocks/pubsub/pubsub-service.js';
import type { Caller } from './caller.js';
import { resolve, type Deferred } from './deferred.js';
import type { RuntimeView } from './runtime-view.js';
import { checkPublish } from './access.js';
import { EXTENDED_METADATA_LIMITS, metadataOf, type MetadataResult } from './metadata.js';
import type { InvokeBindingRequest, InvokeBindingResult } from './bindings.js';
import type { BindingsService } from '../../blocks/bindings/bindings-service.js';
import { sinkTarget, type SubscribeTopicEventsRequest, type TopicEventSink, type TopicEventStream } from './topic-stream.js';
import type {
  BulkPublishEntry,
  BulkPublishEventRequest,
  BulkPublishResult,
  BulkStateItem,
  DeleteItem,
  GetBulkStateRequest,
  GetStateRequest,
  PublishEventRequest,
  QueryStateRequest,
  SaveItem,
  StateItem,
  TransactionRequest,
} from './requests.js';

/** What the universal API serves from: the runtime's view and the building blocks. */
export interface UniversalApiOptions {
  readonly runtime: RuntimeView;
  readonly state: StateService;
  readonly pubsub: PubSubService;
  readonly bindings: BindingsService;
}

/** One method per Dapr operation served today; see the module comment. */
export class UniversalApi {
  readonly #rt: RuntimeView;
  readonly #state: StateService;
  readonly #pubsub: PubSubService;
  readonly #bindings: BindingsService;

  constructor(opts: UniversalApiOptions) {
    this.#rt = opts.runtime;
    this.#state = opts.state;
    this.#pubsub = opts.pubsub;
    this.#bindings = opts.bindings;
  }

  /** The sidecar's app id (`--app-id`): the app its errors and metadata name. */
  get appId(): string {
    return this.#rt.appId;
  }
  get runtimeVersion(): string {
    return this.#rt.runtimeVersion;
  }

  // State (spec 1.2). Keys are prefixed for the caller's app id.

  /** One key; undefined when it does not exist. */
  getState(caller: Caller, storeName: string, req: GetStateRequest): Promise<StateItem | undefined> {
    return this.#state.get(caller.appId, storeName, req.key, req.consistency, req.metadata);
  }

  /** Whether a first-write save without an ETag on `storeName` saves only a key that does not exist (`StateService.insertsIfAbsent`). */
  stateInsertsIfAbsent(_caller: Caller, storeName: string): boolean {
    return this.#state.insertsIfAbsent(storeName);
  }

  /** One page of the caller's keys in `storeName` (`StateService.listKeys`: not a Dapr API; Wasm workloads' key-value has it). */
  listStateKeys(caller: Caller, storeName: string, cursor: string | undefined, limit: number): Promise<{ keys: string[]; cursor?: string }> {
    return this.#state.listKeys(caller.appId, storeName, cursor, limit);
  }

  /** Several keys, in the order asked; a key that does not exist comes back with neither item nor error. */
  async getBulkState(caller: Caller, storeName: string, req: Deferred<GetBulkStateRequest>): Promise<BulkStateItem[]> {
    this.#state.store(storeName);
    const { keys, metadata } = resolve(req);
    return this.#state.bulkGet(caller.appId, storeName, keys, metadata);
  }

  /** Saves every item (one `set` for one item, else one `bulk-set`); values are stored as given. */
  async saveState(caller: Caller, storeName: string, items: Deferred<readonly SaveItem[]>): Promise<void> {
    this.#state.store(storeName);
    await this.#state.save(caller.appId, storeName, resolve(items));
  }

  /** Deleting a key that does not exist succeeds. */
  async deleteState(caller: Caller, storeName: string, item: DeleteItem): Promise<void> {
    await this.#state.delete(caller.appId, storeName, item);
  }

  /** gRPC `DeleteBulkState` (Dapr's HTTP API has none). */
  async deleteBulkState(caller: Caller, storeName: string, items: Deferred<readonly DeleteItem[]>): Promise<void> {
    this.#state.store(storeName);
    await this.#state.bulkDelete(caller.appId, storeName, resolve(items));
  }

  /** Applies every operation at once, on a store that declares `TRANSACTIONAL`. */
  async executeStateTransaction(caller: Caller, storeName: string, req: Deferred<TransactionRequest>): Promise<void> {
    this.#state.store(storeName);
    const { operations, metadata } = resolve(req);
    await this.#state.transact(caller.appId, storeName, operations, metadata);
  }

  /**
   * State query. No state store can be queried yet (none declares `QUERY_API`), so this always throws, as
   * Dapr does for such a store; the query is not read.
   */
  async queryState(caller: Caller, storeName: string, _req: Deferred<QueryStateRequest>): Promise<never> {
    return this.#state.query(caller.appId, storeName);
  }

  // Pub/sub (spec 1.3, 1.4). The caller's app id is the CloudEvent `source` and what topic scopes check.

  /** Resolves once the broker has accepted the event. */
  async publishEvent(caller: Caller, req: PublishEventRequest): Promise<void> {
    this.#checkPublish(caller, req.pubsub, req.topic);
    await this.#pubsub.publish(caller.appId, {
      pubsub: req.pubsub,
      topic: req.topic,
      body: Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength),
      contentType: req.contentType,
      metadata: req.metadata,
      traceparent: req.traceparent,
      tracestate: req.tracestate,
    });
  }

  /**
   * Publishes every entry; resolves with those that failed. Throws for errors of the whole request
   * (pub/sub, topic, scopes, entries, metadata).
   */
  async bulkPublishEvent(caller: Caller, req: BulkPublishEventRequest): Promise<BulkPublishResult> {
    this.#checkPublish(caller, req.pubsub, req.topic);
    const entries = resolve(req.entries);
    checkEntryIds(entries);
    const failedEntries = await this.#pubsub.bulkPublish(caller.appId, req.pubsub, req.topic, entries, req.metadata);
    return { failedEntries };
  }

  /**
   * A streaming subscription (gRPC `SubscribeTopicEventsAlpha1`) for the caller: every message of the topic
   * goes to `sink` until the returned stream is closed. Checks in daprd's order: `pubsubName is required`,
   * `topic is required` (`ERR_PUBSUB_STREAM`), the pub/sub's lookup (`ERR_PUBSUB_NOT_FOUND`), the topic
   * scopes and the broker's subscribe (`ERR_PUBSUB_STREAM`). Resolves once the subscription exists at the
   * broker.
   */
  async subscribeTopicEvents(caller: Caller, req: SubscribeTopicEventsRequest, sink: TopicEventSink): Promise<TopicEventStream> {
    if (req.pubsub === '') throw new MortarError('ERR_PUBSUB_STREAM', ['pubsubName is required']);
    if (req.topic === '') throw new MortarError('ERR_PUBSUB_STREAM', ['topic is required']);
    const sub = await this.#pubsub.subscribeStream(caller.appId, req, sinkTarget(sink));
    return { close: (graceMs, closeSink) => sub.close(graceMs, closeSink) };
  }

  /** Lookup, topic and scope checks of a publish, in Dapr's order. */
  #checkPublish(caller: Caller, pubsub: string, topic: string): void {
    const c = this.#pubsub.component(pubsub);
    if (topic === '') throw new MortarError('ERR_TOPIC_NAME_EMPTY', [pubsub]);
    checkPublish(caller, c, topic);
  }

  // Bindings (spec 1.5).

  /**
   * Invokes an output binding; `undefined` when the component answered no response object (HTTP 204).
   * Throws `ERR_INVOKE_OUTPUT_BINDING` for an unknown binding, a missing or unsupported operation and any
   * failure of the component, as daprd.
   */
  invokeBinding(caller: Caller, req: InvokeBindingRequest): Promise<InvokeBindingResult | undefined> {
    return this.#bindings.invoke(caller.appId, req.name, req);
  }

  // Metadata and health (spec 1.10, 1.11).

  /** The sidecar's metadata (its app id, components, subscriptions, app connection), whoever asks. */
  getMetadata(_caller: Caller): MetadataResult {
    return metadataOf(this.#rt);
  }

  /** Sets `extended.<key>` to `value` (read as UTF-8), within `EXTENDED_METADATA_LIMITS`. */
  setMetadata(_caller: Caller, key: string, value: Uint8Array): void {
    const { maxKeys, maxValueBytes } = EXTENDED_METADATA_LIMITS;
    const { extended } = this.#rt;
    if (value.byteLength > maxValueBytes) {
      throw new MortarError('ERR_BAD_REQUEST', [`metadata value for '${key}' is ${value.byteLength} bytes; at most ${maxValueBytes} bytes are allowed`], {
        http: 413,
      });
    }
    if (!extended.has(key) && extended.size >= maxKeys) {
      throw new MortarError('ERR_BAD_REQUEST', [`metadata key '${key}' not set: at most ${maxKeys} keys can be set (existing keys can be overwritten)`]);
    }
    extended.set(key, Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
  }

  /**
   * Readiness: returns when every readiness target is ready, else throws `ERR_HEALTH_NOT_READY` naming
   * those that are not; `appId`, when given, must be the sidecar's (`ERR_HEALTH_APPID_NOT_MATCH`).
   */
  healthz(_caller: Caller, appId?: string): void {
    if (appId !== undefined && appId !== this.#rt.appId) throw new MortarError('ERR_HEALTH_APPID_NOT_MATCH');
    if (!this.#rt.ready()) throw new MortarError('ERR_HEALTH_NOT_READY', [`[${this.#rt.notReadyTargets().join(' ')}]`]);
  }

  /**
   * `Shutdown`: the sidecar stops gracefully, as on SIGTERM. Returns at once; the stop begins after the
   * caller has been answered. `force` (HTTP `dapr-force-shutdown: true`): the process exits with code 1
   * after 100 ms instead, as daprd does.
   */
  shutdown(_caller: Caller, force = false): void {
    this.#rt.requestShutdown(force);
  }

  /** Outbound readiness (components loaded, API servers listening), before the app is reachable. */
  outboundHealthz(_caller: Caller): void {
    if (!this.#rt.outboundReady()) throw new MortarError('ERR_OUTBOUND_HEALTH_NOT_READY');
  }
}

/** Bulk publish entries need an id, unique within the request (`ERR_PUBSUB_EVENTS_SER`). */
function checkEntryIds(entries: readonly BulkPublishEntry[]): void {
  const ids = new Set<string>();
  entries.forEach((e, i) => {
    if (e.entryId === '') throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${i}: entryId is missing`], { reason: 'DAPR_PUBSUB_MARSHAL_EVENTS' });
    if (ids.has(e.entryId))
      throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${i}: entryId '${e.entryId}' is not unique`], { reason: 'DAPR_PUBSUB_MARSHAL_EVENTS' });
    ids.add(e.entryId);
  });
}
