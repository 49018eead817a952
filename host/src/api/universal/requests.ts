/**
 * The typed requests and results of the universal API. Values and events are bytes; nothing here is JSON
 * or HTTP: each transport decodes its own wire format into these and encodes the results back.
 */
import type { BulkGetResult, DeleteItem, GetResult, SaveItem, StateOptions, TransactionOp } from '../../blocks/state/state-service.js';
import type { BulkPublishEntry } from '../../blocks/pubsub/pubsub-service.js';
import type { Deferred } from './deferred.js';

export type { BulkPublishEntry, DeleteItem, SaveItem, StateOptions, TransactionOp };

/** `GetState`: one key. */
export interface GetStateRequest {
  readonly key: string;
  /** `strong` or `eventual` (default). */
  readonly consistency?: string;
  readonly metadata: Record<string, string>;
}

/** A stored value: its bytes as saved, its ETag and the component's response metadata. */
export type StateItem = GetResult;

/** `GetBulkState`: several keys, read with the same metadata. */
export interface GetBulkStateRequest {
  readonly keys: readonly string[];
  readonly metadata: Record<string, string>;
}

/** One key of a bulk read: `item` when found, `error` when that key alone failed, neither when absent. */
export type BulkStateItem = BulkGetResult;

/** `ExecuteStateTransaction`: upserts and deletes applied together. */
export interface TransactionRequest {
  readonly operations: readonly TransactionOp[];
  readonly metadata: Record<string, string>;
}

/** `QueryStateAlpha1`: the query as the app wrote it (a JSON document in Dapr's query language). */
export interface QueryStateRequest {
  readonly query: string;
  readonly metadata: Record<string, string>;
}

/** `PublishEvent`: one event, wrapped in a CloudEvent unless `metadata.rawPayload` says otherwise. */
export interface PublishEventRequest {
  readonly pubsub: string;
  readonly topic: string;
  readonly data: Uint8Array;
  /** The data's content type (missing: `text/plain`). */
  readonly contentType?: string;
  readonly metadata: Record<string, string>;
  /** Incoming trace context, if any. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** `BulkPublishEvent`: several events to one topic. */
export interface BulkPublishEventRequest {
  readonly pubsub: string;
  readonly topic: string;
  /** Entry ids must be non-empty and unique. Deferred: decoded after the pub/sub and topic checks. */
  readonly entries: Deferred<readonly BulkPublishEntry[]>;
  /** Request-level metadata, merged under each entry's own. */
  readonly metadata: Record<string, string>;
}

/** The entries that could not be published (none: all were). */
export interface BulkPublishResult {
  readonly failedEntries: ReadonlyArray<{ readonly entryId: string; readonly error: string }>;
}
