/**
 * The state API's JSON bodies (spec 1.2), decoded into the universal API's typed requests and its results
 * encoded back: HTTP's translation, kept out of the routes.
 */
import { MortarError } from '../../errors.js';
import type { BulkStateItem, DeleteItem, GetBulkStateRequest, SaveItem, StateOptions, TransactionOp, TransactionRequest } from '../universal/requests.js';
import { objectFields, optionalString, stringMap } from './request.js';

/**
 * The request bodies' field names, as daprd's structs declare them (`state.SetRequest`, `BulkGetRequest`,
 * `TransactionalStateRequest`, `StateOptions`). Decoding matches them case-insensitively, as Go does.
 */
const ITEM_FIELDS = ['key', 'value', 'etag', 'metadata', 'options', 'contentType'] as const;
const BULK_FIELDS = ['keys', 'metadata', 'parallelism'] as const;
const TRANSACTION_FIELDS = ['operations', 'metadata'] as const;
const OPERATION_FIELDS = ['operation', 'request'] as const;
const OPTION_FIELDS = ['concurrency', 'consistency'] as const;

/** The items of a save (`POST /v1.0/state/{store}`): a JSON array; `qm` (the query's metadata) wins over each item's. */
export function decodeSaveItems(body: unknown, qm: Record<string, string>): SaveItem[] {
  if (!Array.isArray(body)) throw new MortarError('ERR_MALFORMED_REQUEST', ['failed to parse request body: expected a JSON array of state items']);
  return body.map((raw: unknown, i: number) => {
    const it = objectFields(raw, ITEM_FIELDS);
    if (!it || typeof it.key !== 'string' || it.key === '') {
      throw new MortarError('ERR_MALFORMED_REQUEST', [`"key" is a required field (item ${i})`]);
    }
    return {
      key: it.key,
      value: encodeValue(it.value),
      etag: optionalString(it.etag, `[${i}].etag`),
      metadata: { ...stringMap(it.metadata, `[${i}].metadata`), ...qm },
      options: options(it.options, `[${i}].options`),
    };
  });
}

/** A bulk get (`POST /v1.0/state/{store}/bulk`): `{keys, metadata}`; `qm` wins over the body's metadata. */
export function decodeBulkGet(body: unknown, qm: Record<string, string>): GetBulkStateRequest {
  const b = objectFields(body, BULK_FIELDS);
  if (!b || (b.keys !== undefined && b.keys !== null && !Array.isArray(b.keys))) {
    throw new MortarError('ERR_MALFORMED_REQUEST', ['failed to parse request body: expected {"keys": [...]}']);
  }
  const keys = ((b.keys as unknown[] | null | undefined) ?? []).map((k, i) => {
    if (typeof k !== 'string') throw new MortarError('ERR_MALFORMED_REQUEST', [`failed to parse request body: keys[${i}] must be a string`]);
    return k;
  });
  return { keys, metadata: { ...stringMap(b.metadata, 'metadata'), ...qm } };
}

/** A transaction (`POST /v1.0/state/{store}/transaction`); `qm` wins over each operation's metadata. */
export function decodeTransaction(body: unknown, qm: Record<string, string>): TransactionRequest {
  const b = objectFields(body, TRANSACTION_FIELDS);
  if (!b || (b.operations !== undefined && b.operations !== null && !Array.isArray(b.operations))) {
    throw new MortarError('ERR_MALFORMED_REQUEST', ['failed to parse request body: expected {"operations": [...]}']);
  }
  const operations: TransactionOp[] = ((b.operations as unknown[] | undefined) ?? []).map((raw, i) => {
    const op = objectFields(raw, OPERATION_FIELDS);
    const r = objectFields(op?.request, ITEM_FIELDS);
    const kind = op?.operation;
    if (kind !== 'upsert' && kind !== 'delete') throw new MortarError('ERR_NOT_SUPPORTED_STATE_OPERATION', [String(kind)]);
    if (!r || typeof r.key !== 'string' || r.key === '')
      throw new MortarError('ERR_MALFORMED_REQUEST', [`"key" is a required field (operations[${i}].request)`]);
    const common = {
      key: r.key,
      etag: optionalString(r.etag, `operations[${i}].request.etag`),
      metadata: { ...stringMap(r.metadata, `operations[${i}].request.metadata`), ...qm },
      options: options(r.options, `operations[${i}].request.options`),
    };
    return kind === 'upsert'
      ? { operation: 'upsert', request: { ...common, value: encodeValue(r.value) } as SaveItem }
      : { operation: 'delete', request: common as DeleteItem };
  });
  return { operations, metadata: stringMap(b.metadata, 'metadata') };
}

function options(v: unknown, field: string): StateOptions | undefined {
  if (v === undefined || v === null) return undefined;
  const o = objectFields(v, OPTION_FIELDS);
  if (!o) throw new MortarError('ERR_MALFORMED_REQUEST', [`'${field}' must be an object`]);
  return { concurrency: optionalString(o.concurrency, `${field}.concurrency`), consistency: optionalString(o.consistency, `${field}.consistency`) };
}

/** Values are stored JSON-encoded, as Dapr does: the string "v" is stored as the bytes `"v"`. */
export function encodeValue(v: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(v === undefined ? null : v), 'utf8');
}

/**
 * A bulk get's answer: a JSON array of `{key, data?, etag?, metadata?, error?}`, each value embedded as the
 * JSON it was stored as (see `rawJson`).
 */
export function bulkGetBody(results: readonly BulkStateItem[]): string {
  const parts = results.map((r) => {
    let s = `{"key":${JSON.stringify(r.key)}`;
    if (r.item) {
      s += `,"data":${rawJson(r.item.data)}`;
      if (r.item.etag) s += `,"etag":${JSON.stringify(r.item.etag)}`;
      if (Object.keys(r.item.metadata).length) s += `,"metadata":${JSON.stringify(r.item.metadata)}`;
    }
    if (r.error) s += `,"error":${JSON.stringify(r.error)}`;
    return `${s}}`;
  });
  return `[${parts.join(',')}]`;
}

/** Stored bytes as a JSON value for a bulk response: embedded as-is when valid JSON, else as a JSON string. */
function rawJson(data: Uint8Array): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  try {
    JSON.parse(text);
    return text;
  } catch {
    return JSON.stringify(Buffer.from(data).toString('base64'));
  }
}
