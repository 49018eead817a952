import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MortarError } from '../../errors.js';
import type { StateService, SaveItem, DeleteItem, TransactionOp, StateOptions } from '../../blocks/state/state-service.js';
import { jsonBody, objectFields, optionalString, queryMetadata, queryValue, stringMap } from './request.js';

type StoreParams = { storeName: string };
type KeyParams = { storeName: string; key: string };

/**
 * Dapr's state HTTP API (`/v1.0/state`): translation only. The store is looked up before the body is read,
 * as Dapr does, so an unknown store is reported even for a malformed body.
 */
export function stateRoutes(state: StateService) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const save = async (req: FastifyRequest<{ Params: StoreParams }>, reply: FastifyReply) => {
      const { storeName } = req.params;
      state.store(storeName);
      const body = jsonBody(req);
      if (!Array.isArray(body)) throw new MortarError('ERR_MALFORMED_REQUEST', ['failed to parse request body: expected a JSON array of state items']);
      const qm = queryMetadata(req);
      const items: SaveItem[] = body.map((raw: unknown, i: number) => {
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
      await state.save(storeName, items);
      return reply.code(204).send();
    };
    app.post('/:storeName', save);
    app.put('/:storeName', save);

    const bulk = async (req: FastifyRequest<{ Params: StoreParams }>, reply: FastifyReply) => {
      const { storeName } = req.params;
      state.store(storeName);
      const body = objectFields(jsonBody(req), BULK_FIELDS);
      if (!body || (body.keys !== undefined && body.keys !== null && !Array.isArray(body.keys))) {
        throw new MortarError('ERR_MALFORMED_REQUEST', ["failed to parse request body: expected {\"keys\": [...]}"]);
      }
      const keys = ((body.keys as unknown[] | null | undefined) ?? []).map((k, i) => {
        if (typeof k !== 'string') throw new MortarError('ERR_MALFORMED_REQUEST', [`failed to parse request body: keys[${i}] must be a string`]);
        return k;
      });
      const results = await state.bulkGet(storeName, keys, { ...stringMap(body.metadata, 'metadata'), ...queryMetadata(req) });
      const parts = results.map((r) => {
        let s = `{"key":${JSON.stringify(r.key)}`;
        if (r.item) {
          s += `,"data":${rawJson(r.item.data)}`;
          if (r.item.etag) s += `,"etag":${JSON.stringify(r.item.etag)}`;
          if (Object.keys(r.item.metadata).length) s += `,"metadata":${JSON.stringify(r.item.metadata)}`;
        }
        if (r.error) s += `,"error":${JSON.stringify(r.error)}`;
        return s + '}';
      });
      return reply.code(200).type('application/json').send(`[${parts.join(',')}]`);
    };
    app.post('/:storeName/bulk', bulk);
    app.put('/:storeName/bulk', bulk);

    const transaction = async (req: FastifyRequest<{ Params: StoreParams }>, reply: FastifyReply) => {
      const { storeName } = req.params;
      state.store(storeName);
      const body = objectFields(jsonBody(req), TRANSACTION_FIELDS);
      if (!body || (body.operations !== undefined && body.operations !== null && !Array.isArray(body.operations))) {
        throw new MortarError('ERR_MALFORMED_REQUEST', ['failed to parse request body: expected {"operations": [...]}']);
      }
      const qm = queryMetadata(req);
      const ops: TransactionOp[] = ((body.operations as unknown[] | undefined) ?? []).map((raw, i) => {
        const op = objectFields(raw, OPERATION_FIELDS);
        const r = objectFields(op?.request, ITEM_FIELDS);
        const kind = op?.operation;
        if (kind !== 'upsert' && kind !== 'delete') throw new MortarError('ERR_NOT_SUPPORTED_STATE_OPERATION', [String(kind)]);
        if (!r || typeof r.key !== 'string' || r.key === '') throw new MortarError('ERR_MALFORMED_REQUEST', [`"key" is a required field (operations[${i}].request)`]);
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
      await state.transact(storeName, ops, stringMap(body.metadata, 'metadata'));
      return reply.code(204).send();
    };
    app.post('/:storeName/transaction', transaction);
    app.put('/:storeName/transaction', transaction);

    app.get('/:storeName/:key', async (req: FastifyRequest<{ Params: KeyParams }>, reply) => {
      const { storeName, key } = req.params;
      state.store(storeName);
      const item = await state.get(storeName, key, queryValue(req, 'consistency'), queryMetadata(req));
      if (!item) return reply.code(204).send();
      if (item.etag) reply.header('etag', item.etag);
      for (const [k, v] of Object.entries(item.metadata)) reply.header(`metadata.${k}`, v);
      return reply.code(200).type('application/json').send(Buffer.from(item.data.buffer, item.data.byteOffset, item.data.byteLength));
    });

    app.delete('/:storeName/:key', async (req: FastifyRequest<{ Params: KeyParams }>, reply) => {
      const { storeName, key } = req.params;
      state.store(storeName);
      const ifMatch = req.headers['if-match'];
      await state.delete(storeName, {
        key,
        etag: ifMatch === undefined ? undefined : String(ifMatch),
        metadata: queryMetadata(req),
        options: { concurrency: queryValue(req, 'concurrency'), consistency: queryValue(req, 'consistency') },
      });
      return reply.code(204).send();
    });
  };
}

/**
 * The request bodies' field names, as daprd's structs declare them (`state.SetRequest`, `BulkGetRequest`,
 * `TransactionalStateRequest`, `StateOptions`). Decoding matches them case-insensitively, as Go does.
 */
const ITEM_FIELDS = ['key', 'value', 'etag', 'metadata', 'options', 'contentType'] as const;
const BULK_FIELDS = ['keys', 'metadata', 'parallelism'] as const;
const TRANSACTION_FIELDS = ['operations', 'metadata'] as const;
const OPERATION_FIELDS = ['operation', 'request'] as const;
const OPTION_FIELDS = ['concurrency', 'consistency'] as const;

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
