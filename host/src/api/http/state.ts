import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UniversalApi } from '../universal/universal-api.js';
import type { Caller } from '../universal/caller.js';
import { jsonBody, queryMetadata, queryValue } from './request.js';
import { bulkGetBody, decodeBulkGet, decodeSaveItems, decodeTransaction } from './state-codec.js';

type StoreParams = { storeName: string };
type KeyParams = { storeName: string; key: string };

/**
 * Dapr's state HTTP API (`/v1.0/state`, spec 1.2): translation only. Bodies are decoded when the universal
 * API asks (after the store lookup), so an unknown store is reported even for a malformed body, as Dapr does.
 */
export function stateRoutes(api: UniversalApi, caller: (req: FastifyRequest) => Caller) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const save = async (req: FastifyRequest<{ Params: StoreParams }>, reply: FastifyReply) => {
      await api.saveState(caller(req), req.params.storeName, () => decodeSaveItems(jsonBody(req), queryMetadata(req)));
      return reply.code(204).send();
    };
    app.post('/:storeName', save);
    app.put('/:storeName', save);

    const bulk = async (req: FastifyRequest<{ Params: StoreParams }>, reply: FastifyReply) => {
      const results = await api.getBulkState(caller(req), req.params.storeName, () => decodeBulkGet(jsonBody(req), queryMetadata(req)));
      return reply.code(200).type('application/json').send(bulkGetBody(results));
    };
    app.post('/:storeName/bulk', bulk);
    app.put('/:storeName/bulk', bulk);

    const transaction = async (req: FastifyRequest<{ Params: StoreParams }>, reply: FastifyReply) => {
      await api.executeStateTransaction(caller(req), req.params.storeName, () => decodeTransaction(jsonBody(req), queryMetadata(req)));
      return reply.code(204).send();
    };
    app.post('/:storeName/transaction', transaction);
    app.put('/:storeName/transaction', transaction);

    app.get('/:storeName/:key', async (req: FastifyRequest<{ Params: KeyParams }>, reply) => {
      const { storeName, key } = req.params;
      const item = await api.getState(caller(req), storeName, { key, consistency: queryValue(req, 'consistency'), metadata: queryMetadata(req) });
      if (!item) return reply.code(204).send();
      if (item.etag) reply.header('etag', item.etag);
      for (const [k, v] of Object.entries(item.metadata)) reply.header(`metadata.${k}`, v);
      return reply
        .code(200)
        .type('application/json')
        .send(Buffer.from(item.data.buffer, item.data.byteOffset, item.data.byteLength));
    });

    app.delete('/:storeName/:key', async (req: FastifyRequest<{ Params: KeyParams }>, reply) => {
      const { storeName, key } = req.params;
      const ifMatch = req.headers['if-match'];
      await api.deleteState(caller(req), storeName, {
        key,
        etag: ifMatch === undefined ? undefined : String(ifMatch),
        metadata: queryMetadata(req),
        options: { concurrency: queryValue(req, 'concurrency'), consistency: queryValue(req, 'consistency') },
      });
      return reply.code(204).send();
    });
  };
}

/** `/v1.0-alpha1/state/{store}/query` (spec 1.2): no store can be queried yet; the body is not read. */
export function stateQueryRoutes(api: UniversalApi, caller: (req: FastifyRequest) => Caller) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const query = async (req: FastifyRequest<{ Params: StoreParams }>) =>
      api.queryState(caller(req), req.params.storeName, () => ({
        query: ((req.body as Buffer | undefined) ?? Buffer.alloc(0)).toString('utf8'),
        metadata: queryMetadata(req),
      }));
    app.post('/:storeName/query', query);
    app.put('/:storeName/query', query);
  };
}
