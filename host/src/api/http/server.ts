import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { MortarError, toDaprBody } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { UniversalApi } from '../universal/universal-api.js';
import type { Caller } from '../universal/caller.js';
import { bindingsRoutes } from './bindings.js';
import { pubsubRoutes } from './pubsub.js';
import { stateQueryRoutes, stateRoutes } from './state.js';
import { metadataRoutes } from './metadata.js';
import { unmatchedRouteError } from './unsupported.js';
import { DEFAULTS } from '../../config.js';
import { clientErrorHandler, frameworkErrors } from './transport-errors.js';
import { MAX_KEY_URL_CHARS } from '../../blocks/state/keys.js';

export interface HttpApiOptions {
  /** What every route calls: one universal API method per request. */
  readonly api: UniversalApi;
  readonly logger: Logger;
  /** Largest accepted request body, in bytes (Dapr default 4 MiB). */
  readonly maxBodyBytes: number;
  /** `DAPR_API_TOKEN`: when set, every request but health checks must carry it in `dapr-api-token`. */
  readonly apiToken?: string;
}

const TOKEN_EXEMPT = new Set(['/v1.0/healthz', '/v1.0/healthz/outbound']);

/**
 * Builds the Dapr HTTP API server (not yet listening). Its routes translate only: parse the request, call
 * one method of the universal API, encode the result.
 */
export function createHttpApi(opts: HttpApiOptions): FastifyInstance {
  const { api } = opts;
  // Every HTTP caller is the sidecar's own app (the API token, when set, is the only credential).
  const httpCaller: Caller = { appId: api.appId, transport: 'http' };
  const caller = () => httpCaller;
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    // A path segment may hold the longest state key, percent-encoded (keys.ts states the key rule).
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: MAX_KEY_URL_CHARS },
    frameworkErrors: frameworkErrors(() => api.appId),
    clientErrorHandler: clientErrorHandler(() => api.appId, opts.logger),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A client that sends headers or a body slowly (or never finishes) is cut off: 408, connection closed.
    requestTimeout: DEFAULTS.httpRequestTimeoutMs,
    http: {
      headersTimeout: DEFAULTS.httpHeadersTimeoutMs,
      requestTimeout: DEFAULTS.httpRequestTimeoutMs,
      connectionsCheckingInterval: DEFAULTS.httpTimeoutCheckMs,
    },
  });

  // Every body arrives as raw bytes; each route decides how to parse it (Dapr accepts any content type).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  if (opts.apiToken) {
    const expected = Buffer.from(opts.apiToken);
    app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0]!;
      if (req.method === 'GET' && TOKEN_EXEMPT.has(path)) return;
      const given = Buffer.from(String(req.headers['dapr-api-token'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply.code(401).type('text/plain').send('invalid api token');
      }
      delete req.headers['dapr-api-token'];
    });
  }

  app.setErrorHandler((err, _req, reply) => {
    const e = toMortarError(err);
    // A 4xx is the caller's business (an ETag conflict, a bad key): debug. A 5xx is ours: error.
    if (e.http >= 500) opts.logger.error({ code: e.code, err: e.message }, e.message);
    else opts.logger.debug({ code: e.code, err: e.message }, e.message);
    return reply.code(e.http).type('application/json').send(toDaprBody(e, api.appId));
  });

  // A Dapr API mortar does not serve is logged at warn the first time (the app expects it), then at debug.
  const warned = new Set<string>();
  app.setNotFoundHandler((req, reply) => {
    const { error: e, api: lacking } = unmatchedRouteError(req.method, req.url, req.headers, api.runtimeVersion);
    if (lacking && !warned.has(lacking)) {
      warned.add(lacking);
      opts.logger.warn({ code: e.code, api: lacking }, e.message);
    } else {
      opts.logger.debug({ code: e.code }, e.message);
    }
    return reply.code(e.http).type('application/json').send(toDaprBody(e, api.appId));
  });

  app.register(stateRoutes(api, caller), { prefix: '/v1.0/state' });
  app.register(stateQueryRoutes(api, caller), { prefix: '/v1.0-alpha1/state' });
  app.register(pubsubRoutes(api, caller));
  app.register(bindingsRoutes(api, caller));
  app.register(metadataRoutes(api, caller));
  return app;
}

/** Anything thrown inside a route becomes a catalogue error; fastify's own errors keep their status. */
function toMortarError(err: unknown): MortarError {
  if (err instanceof MortarError) return err;
  const f = err as { code?: string; statusCode?: number; message?: string };
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new MortarError('ERR_BODY_READ', ['request body too large'], { http: 413 });
  if (f.statusCode && f.statusCode >= 400 && f.statusCode < 500)
    return new MortarError('ERR_BAD_REQUEST', [f.message ?? 'bad request'], { http: f.statusCode });
  return new MortarError('ERR_INTERNAL', [f.message ?? String(err)]);
}
