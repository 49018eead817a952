import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { MortarError, toDaprBody } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { StateService } from '../../blocks/state/state-service.js';
import type { PubSubService } from '../../blocks/pubsub/pubsub-service.js';
import type { BindingsService } from '../../blocks/bindings/bindings-service.js';
import { bindingsRoutes } from './bindings.js';
import { pubsubRoutes } from './pubsub.js';
import { stateRoutes } from './state.js';
import { metadataRoutes, type RuntimeView } from './metadata.js';
import { unmatchedRouteError } from './unsupported.js';
import { DEFAULTS } from '../../config.js';
import { clientErrorHandler, frameworkErrors } from './transport-errors.js';
import { MAX_KEY_URL_CHARS } from '../../blocks/state/keys.js';

export interface HttpApiOptions {
  readonly runtime: RuntimeView;
  readonly state: StateService;
  readonly pubsub: PubSubService;
  readonly bindings: BindingsService;
  readonly logger: Logger;
  /** Largest accepted request body, in bytes (Dapr default 4 MiB). */
  readonly maxBodyBytes: number;
  /** `DAPR_API_TOKEN`: when set, every request but health checks must carry it in `dapr-api-token`. */
  readonly apiToken?: string;
}

const TOKEN_EXEMPT = new Set(['/v1.0/healthz', '/v1.0/healthz/outbound']);

/** Builds the Dapr HTTP API server (not yet listening). */
export function createHttpApi(opts: HttpApiOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: opts.maxBodyBytes,
    // A path segment may hold the longest state key, percent-encoded (keys.ts states the key rule).
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: MAX_KEY_URL_CHARS },
    frameworkErrors: frameworkErrors(() => opts.runtime.appId),
    clientErrorHandler: clientErrorHandler(() => opts.runtime.appId, opts.logger),
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
    return reply.code(e.http).type('application/json').send(toDaprBody(e, opts.runtime.appId));
  });

  // A Dapr API mortar does not serve is logged at warn the first time (the app expects it), then at debug.
  const warned = new Set<string>();
  app.setNotFoundHandler((req, reply) => {
    const { error: e, api } = unmatchedRouteError(req.method, req.url, req.headers, opts.runtime.runtimeVersion);
    if (api && !warned.has(api)) {
      warned.add(api);
      opts.logger.warn({ code: e.code, api }, e.message);
    } else {
      opts.logger.debug({ code: e.code }, e.message);
    }
    return reply.code(e.http).type('application/json').send(toDaprBody(e, opts.runtime.appId));
  });

  app.register(stateRoutes(opts.state), { prefix: '/v1.0/state' });
  app.register(async (alpha) => {
    const query = async (req: { params: unknown }) => opts.state.query((req.params as { storeName: string }).storeName);
    alpha.post('/:storeName/query', query);
    alpha.put('/:storeName/query', query);
  }, { prefix: '/v1.0-alpha1/state' });
  app.register(pubsubRoutes(opts.pubsub, () => opts.runtime.appId));
  app.register(bindingsRoutes(opts.bindings, () => opts.runtime.appId));
  app.register(metadataRoutes(opts.runtime));
  return app;
}

/** Anything thrown inside a route becomes a catalogue error; fastify's own errors keep their status. */
function toMortarError(err: unknown): MortarError {
  if (err instanceof MortarError) return err;
  const f = err as { code?: string; statusCode?: number; message?: string };
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new MortarError('ERR_BODY_READ', ['request body too large'], { http: 413 });
  if (f.statusCode && f.statusCode >= 400 && f.statusCode < 500) return new MortarError('ERR_BAD_REQUEST', [f.message ?? 'bad request'], { http: f.statusCode });
  return new MortarError('ERR_INTERNAL', [f.message ?? String(err)]);
}
