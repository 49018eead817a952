import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MortarError, toDaprBody } from '../../errors.js';
import type { PubSubService } from '../../blocks/pubsub/pubsub-service.js';
import { queryMetadata } from './request.js';
import { parseRequestJson } from '../../request-json.js';

type TopicParams = { pubsub: string; '*': string };

/**
 * Dapr's publish API (`/v1.0/publish`, spec 1.3) and bulk publish (`/v1.0-alpha1/publish/bulk` and
 * `/v1.0/publish/bulk`, spec 1.4): translation only. The topic is the rest of the path and may hold `/`.
 */
export function pubsubRoutes(pubsub: PubSubService, appId: () => string) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const publish = async (req: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply) => {
      const header = (n: string) => { const v = req.headers[n]; return Array.isArray(v) ? v[0] : v; };
      await pubsub.publish({
        pubsub: req.params.pubsub, topic: req.params['*'] ?? '', body: (req.body as Buffer | undefined) ?? Buffer.alloc(0),
        contentType: header('content-type'), metadata: queryMetadata(req), traceparent: header('traceparent'), tracestate: header('tracestate'),
      });
      return reply.code(204).send();
    };
    const noTopic = async (req: FastifyRequest<{ Params: { pubsub: string } }>) => {
      await pubsub.publish({ pubsub: req.params.pubsub, topic: '', body: Buffer.alloc(0), metadata: {} });
    };
    const noPubsub = async () => { throw new MortarError('ERR_PUBSUB_EMPTY'); };

    const bulk = async (req: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply) => {
      const raw = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
      let body: unknown;
      try {
        body = parseRequestJson(raw.toString('utf8'));
      } catch (err) {
        throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`failed to parse the body: ${(err as Error).message}`], { reason: 'DAPR_PUBSUB_UNMARSHAL_EVENTS' });
      }
      const failed = await pubsub.bulkPublish(req.params.pubsub, req.params['*'] ?? '', body, queryMetadata(req));
      if (failed.length === 0) return reply.code(204).send();
      const e = new MortarError('ERR_PUBSUB_PUBLISH_MESSAGE', [req.params['*'], req.params.pubsub, `${failed.length} of the entries failed`]);
      const errBody = { failedEntries: failed, errorCode: e.code };
      return reply.code(500).header('metadata.responseData', JSON.stringify(errBody)).header('metadata.error', e.message)
        .type('application/json').send({ ...errBody, message: toDaprBody(e, appId()).message });
    };

    for (const method of ['POST', 'PUT'] as const) {
      app.route({ method, url: '/v1.0/publish/:pubsub/*', handler: publish });
      app.route({ method, url: '/v1.0/publish/:pubsub', handler: noTopic });
      app.route({ method, url: '/v1.0/publish/', handler: noPubsub });
      for (const prefix of ['/v1.0-alpha1/publish/bulk', '/v1.0/publish/bulk']) {
        app.route({ method, url: `${prefix}/:pubsub/*`, handler: bulk });
        app.route({ method, url: `${prefix}/:pubsub`, handler: async (req: FastifyRequest<{ Params: { pubsub: string } }>) => { await pubsub.bulkPublish(req.params.pubsub, '', [], {}); } });
      }
    }
  };
}
