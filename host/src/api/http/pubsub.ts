import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MortarError } from '../../errors.js';
import type { UniversalApi } from '../universal/universal-api.js';
import type { Caller } from '../universal/caller.js';
import { queryMetadata } from './request.js';
import { parseRequestJson } from '../../request-json.js';
import { bulkFailure, decodeBulkEntries } from './pubsub-codec.js';

type TopicParams = { pubsub: string; '*': string };

/**
 * Dapr's publish API (`/v1.0/publish`, spec 1.3) and bulk publish (`/v1.0-alpha1/publish/bulk` and
 * `/v1.0/publish/bulk`, spec 1.4): translation only. The topic is the rest of the path and may hold `/`.
 */
export function pubsubRoutes(api: UniversalApi, caller: (req: FastifyRequest) => Caller) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const publish = async (req: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply) => {
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      await api.publishEvent(caller(req), {
        pubsub: req.params.pubsub,
        topic: req.params['*'] ?? '',
        data: (req.body as Buffer | undefined) ?? Buffer.alloc(0),
        contentType: header('content-type'),
        metadata: queryMetadata(req),
        traceparent: header('traceparent'),
        tracestate: header('tracestate'),
      });
      return reply.code(204).send();
    };
    const noTopic = async (req: FastifyRequest<{ Params: { pubsub: string } }>) => {
      await api.publishEvent(caller(req), { pubsub: req.params.pubsub, topic: '', data: Buffer.alloc(0), metadata: {} });
    };
    const noPubsub = async (req: FastifyRequest) => {
      await api.publishEvent(caller(req), { pubsub: '', topic: '', data: Buffer.alloc(0), metadata: {} });
    };

    const bulk = async (req: FastifyRequest<{ Params: TopicParams }>, reply: FastifyReply) => {
      const raw = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
      let body: unknown;
      try {
        body = parseRequestJson(raw.toString('utf8'));
      } catch (err) {
        throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`failed to parse the body: ${(err as Error).message}`], { reason: 'DAPR_PUBSUB_UNMARSHAL_EVENTS' });
      }
      const { pubsub } = req.params;
      const topic = req.params['*'] ?? '';
      const result = await api.bulkPublishEvent(caller(req), { pubsub, topic, entries: () => decodeBulkEntries(body), metadata: queryMetadata(req) });
      if (result.failedEntries.length === 0) return reply.code(204).send();
      const failure = bulkFailure(result, pubsub, req.params['*'], api.appId);
      return reply.code(500).headers(failure.headers).type('application/json').send(failure.body);
    };
    const bulkNoTopic = async (req: FastifyRequest<{ Params: { pubsub: string } }>) => {
      await api.bulkPublishEvent(caller(req), { pubsub: req.params.pubsub, topic: '', entries: [], metadata: {} });
    };

    for (const method of ['POST', 'PUT'] as const) {
      app.route({ method, url: '/v1.0/publish/:pubsub/*', handler: publish });
      app.route({ method, url: '/v1.0/publish/:pubsub', handler: noTopic });
      app.route({ method, url: '/v1.0/publish/', handler: noPubsub });
      for (const prefix of ['/v1.0-alpha1/publish/bulk', '/v1.0/publish/bulk']) {
        app.route({ method, url: `${prefix}/:pubsub/*`, handler: bulk });
        app.route({ method, url: `${prefix}/:pubsub`, handler: bulkNoTopic });
      }
    }
  };
}
