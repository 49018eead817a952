import type { FastifyInstance, FastifyRequest } from 'fastify';
import { formatDuration } from '../../duration.js';
import type { UniversalApi } from '../universal/universal-api.js';
import type { Caller } from '../universal/caller.js';
import type { MetadataResult } from '../universal/metadata.js';
import { queryValue } from './request.js';

/** `GET/PUT /v1.0/metadata`, the health endpoints and `POST /v1.0/shutdown` (spec 1.10-1.12): translation only. */
export function metadataRoutes(api: UniversalApi, caller: (req: FastifyRequest) => Caller) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/v1.0/metadata', async (req, reply) => reply.code(200).send(metadataBody(api.getMetadata(caller(req)))));

    app.put('/v1.0/metadata/:key', async (req, reply) => {
      const { key } = req.params as { key: string };
      api.setMetadata(caller(req), key, (req.body as Buffer | undefined) ?? Buffer.alloc(0));
      return reply.code(204).send();
    });

    app.get('/v1.0/healthz', async (req, reply) => {
      api.healthz(caller(req), queryValue(req, 'appid'));
      return reply.code(204).send();
    });

    app.get('/v1.0/healthz/outbound', async (req, reply) => {
      api.outboundHealthz(caller(req));
      return reply.code(204).send();
    });

    // 204 first; the stop begins once the answer is out.
    app.post('/v1.0/shutdown', async (req, reply) => {
      api.shutdown(caller(req), req.headers['dapr-force-shutdown'] === 'true');
      return reply.code(204).send();
    });
  };
}

/**
 * daprd's JSON for the metadata API: the result's fields in daprd's order; the app-health durations as Go
 * writes them (`5s`, `500ms`).
 */
export function metadataBody(m: MetadataResult): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: m.id,
    runtimeVersion: m.runtimeVersion,
    enabledFeatures: m.enabledFeatures,
    actors: m.actors,
    components: m.components,
    extended: m.extended,
    subscriptions: m.subscriptions,
    httpEndpoints: m.httpEndpoints,
  };
  const app = m.appConnectionProperties;
  if (app) {
    const { health, ...props } = app;
    body.appConnectionProperties =
      health === undefined
        ? props
        : {
            ...props,
            health: {
              healthCheckPath: health.healthCheckPath,
              healthProbeInterval: formatDuration(health.probeIntervalMs),
              healthProbeTimeout: formatDuration(health.probeTimeoutMs),
              healthThreshold: health.threshold,
            },
          };
  }
  return body;
}
