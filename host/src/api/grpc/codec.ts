/**
 * The Dapr gRPC API's messages (as `protos.ts` decodes them: camelCase fields, every field present, enums as
 * numbers, bytes as `Buffer`) decoded into the universal API's typed requests, and its results encoded back:
 * gRPC's translation, kept out of the service. The field rules are daprd's (`pkg/api/grpc`).
 */
import { formatDuration } from '../../duration.js';
import type { InvokeBindingResult } from '../universal/bindings.js';
import type { MetadataResult } from '../universal/metadata.js';
import type {
  BulkPublishEntry,
  BulkStateItem,
  DeleteItem,
  SaveItem,
  StateItem,
  StateOptions,
  TransactionOp,
  TransactionRequest,
} from '../universal/requests.js';

type StringMap = Record<string, string>;

/** `common.v1.Etag`: a message, so "no ETag" (null) differs from an empty one. */
interface Etag {
  value: string;
}
interface StateOptionsMessage {
  concurrency: number;
  consistency: number;
}
/** `common.v1.StateItem`. */
export interface StateItemMessage {
  key: string;
  value: Buffer;
  etag: Etag | null;
  metadata: StringMap;
  options: StateOptionsMessage | null;
}
export interface TransactionalOperationMessage {
  operationType: string;
  request: StateItemMessage | null;
}
export interface BulkPublishEntryMessage {
  entryId: string;
  event: Buffer;
  contentType: string;
  metadata: StringMap;
}

/** `StateOptions.StateConcurrency`: daprd's `stateConcurrencyToString` (unspecified: none). */
const CONCURRENCY: Readonly<Record<number, string>> = { 1: 'first-write', 2: 'last-write' };
/** `StateOptions.StateConsistency`: daprd's `stateConsistencyToString`. */
const CONSISTENCY: Readonly<Record<number, string>> = { 1: 'eventual', 2: 'strong' };

export const consistencyOf = (n: number): string | undefined => CONSISTENCY[n];

function optionsOf(o: StateOptionsMessage | null): StateOptions | undefined {
  if (!o) return undefined;
  return { concurrency: CONCURRENCY[o.concurrency], consistency: CONSISTENCY[o.consistency] };
}

/** A `StateItem` to save; its ETag only when the message has one (daprd: `if item.Etag != nil`). */
export function saveItemOf(s: StateItemMessage): SaveItem {
  return { key: s.key, value: s.value, etag: s.etag ? s.etag.value : undefined, metadata: s.metadata, options: optionsOf(s.options) };
}

/** A `StateItem` to delete (`DeleteBulkState`, a transaction's delete). */
export function deleteItemOf(s: StateItemMessage): DeleteItem {
  return { key: s.key, etag: s.etag ? s.etag.value : undefined, metadata: s.metadata, options: optionsOf(s.options) };
}

/**
 * `ExecuteStateTransaction`'s operations. The operation type is passed on as given: the state block checks
 * it (after the store's lookup and its TRANSACTIONAL check, in daprd's order) and rejects any but `upsert`
 * and `delete` with `ERR_NOT_SUPPORTED_STATE_OPERATION`.
 */
export function transactionOf(operations: readonly TransactionalOperationMessage[], metadata: StringMap): TransactionRequest {
  const empty: StateItemMessage = { key: '', value: Buffer.alloc(0), etag: null, metadata: {}, options: null };
  const ops = operations.map((op): TransactionOp => {
    const req = op.request ?? empty;
    return (op.operationType === 'upsert'
      ? { operation: 'upsert', request: saveItemOf(req) }
      : { operation: op.operationType, request: deleteItemOf(req) }) as unknown as TransactionOp;
  });
  return { operations: ops, metadata };
}

export function bulkEntriesOf(entries: readonly BulkPublishEntryMessage[]): BulkPublishEntry[] {
  return entries.map((e) => ({ entryId: e.entryId, event: e.event, contentType: e.contentType, metadata: e.metadata }));
}

/** `GetStateResponse`: empty for a key that does not exist. */
export function getStateResponse(item: StateItem | undefined): { data?: Uint8Array; etag?: string; metadata?: StringMap } {
  return item ? { data: item.data, etag: item.etag ?? '', metadata: item.metadata } : {};
}

/** `GetBulkStateResponse`: every key asked, in order; a missing key has only its key. */
export function bulkStateResponse(items: readonly BulkStateItem[]): { items: unknown[] } {
  return {
    items: items.map((r) => ({
      key: r.key,
      data: r.item?.data ?? Buffer.alloc(0),
      etag: r.item?.etag ?? '',
      error: r.error ?? '',
      metadata: r.item?.metadata ?? {},
    })),
  };
}

/** `InvokeBindingResponse`: empty when the component answered nothing. */
export function invokeBindingResponse(res: InvokeBindingResult | undefined): { data?: Uint8Array; metadata?: StringMap } {
  return res ? { data: res.data, metadata: res.metadata } : {};
}

/** `GetMetadataResponse` of the universal API's result (the same facts as the HTTP body, in the proto's shape). */
export function metadataResponse(m: MetadataResult): Record<string, unknown> {
  const app = m.appConnectionProperties;
  return {
    id: m.id,
    runtimeVersion: m.runtimeVersion,
    enabledFeatures: m.enabledFeatures,
    activeActorsCount: m.actors,
    registeredComponents: m.components,
    extendedMetadata: m.extended,
    subscriptions: m.subscriptions.map((s) => ({
      pubsubName: s.pubsubname,
      topic: s.topic,
      metadata: s.metadata,
      rules: { rules: s.rules },
      deadLetterTopic: s.deadLetterTopic,
      type: s.type,
    })),
    httpEndpoints: m.httpEndpoints,
    appConnectionProperties: app && {
      port: app.port,
      protocol: app.protocol,
      channelAddress: app.channelAddress,
      maxConcurrency: app.maxConcurrency,
      health: app.health && {
        healthCheckPath: app.health.healthCheckPath,
        healthProbeInterval: formatDuration(app.health.probeIntervalMs),
        healthProbeTimeout: formatDuration(app.health.probeTimeoutMs),
        healthThreshold: app.health.threshold,
      },
    },
  };
}
