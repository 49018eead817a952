import type { FastifyInstance } from 'fastify';
import { MortarError } from '../../errors.js';
import type { ComponentRegistry } from '../../components/registry.js';
import type { Subscription } from '../../blocks/pubsub/subscription.js';
import { queryValue } from './request.js';
import { bindingCapabilities } from '../../blocks/bindings/direction.js';

/** What the metadata and health routes read from the runtime. */
export interface RuntimeView {
  readonly appId: string;
  readonly runtimeVersion: string;
  readonly registry: ComponentRegistry;
  readonly extended: Map<string, string>;
  readonly appConnection?: { port: number; protocol: string; channelAddress: string };
  /** Components loaded and API servers listening. */
  outboundReady(): boolean;
  /** Outbound ready and, with an app port, the app reachable. */
  ready(): boolean;
  notReadyTargets(): string[];
  /** Subscriptions in force (declarative and programmatic). */
  subscriptions(): Subscription[];
}

/**
 * Bounds on the app-set `extended` metadata (`PUT /v1.0/metadata/{key}`), which lives in memory for the
 * process's life and has no delete: at most `maxKeys` keys (overwriting an existing key is always allowed)
 * and each value at most `maxValueBytes` bytes, so at most ~6.4 MiB in all. Beyond either: 400 (too many
 * keys) or 413 (value too large), `ERR_BAD_REQUEST` naming the key and the limit. The Dapr CLI's own keys
 * (`cliPID`, `appCommand`, ...) are a handful of short values.
 */
export const EXTENDED_METADATA_LIMITS = { maxKeys: 100, maxValueBytes: 64 * 1024 } as const;

/** `GET/PUT /v1.0/metadata` and the health endpoints. */
export function metadataRoutes(rt: RuntimeView) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/v1.0/metadata', async (_req, reply) => {
      const body: Record<string, unknown> = {
        id: rt.appId,
        runtimeVersion: rt.runtimeVersion,
        enabledFeatures: [],
        actors: [],
        components: rt.registry.list().map((c) => ({
          name: c.name, type: c.resource.type, version: c.resource.version, capabilities: c.block === 'bindings' ? bindingCapabilities(c) : c.features,
        })),
        extended: { ...Object.fromEntries(rt.extended), daprRuntimeVersion: rt.runtimeVersion },
        subscriptions: rt.subscriptions().map((s) => ({
          pubsubname: s.pubsubname, topic: s.topic, metadata: s.metadata,
          rules: [...s.rules, ...(s.defaultPath !== undefined ? [{ match: '', path: s.defaultPath }] : [])],
          deadLetterTopic: s.deadLetterTopic ?? '', type: s.type,
        })),
        httpEndpoints: [],
      };
      if (rt.appConnection) body.appConnectionProperties = { ...rt.appConnection, maxConcurrency: 0 };
      return reply.code(200).send(body);
    });

    app.put('/v1.0/metadata/:key', async (req, reply) => {
      const { key } = req.params as { key: string };
      const raw = req.body as Buffer | undefined;
      const { maxKeys, maxValueBytes } = EXTENDED_METADATA_LIMITS;
      if (raw && raw.length > maxValueBytes) {
        throw new MortarError('ERR_BAD_REQUEST', [`metadata value for '${key}' is ${raw.length} bytes; at most ${maxValueBytes} bytes are allowed`], { http: 413 });
      }
      if (!rt.extended.has(key) && rt.extended.size >= maxKeys) {
        throw new MortarError('ERR_BAD_REQUEST', [`metadata key '${key}' not set: at most ${maxKeys} keys can be set (existing keys can be overwritten)`]);
      }
      rt.extended.set(key, raw ? raw.toString('utf8') : '');
      return reply.code(204).send();
    });

    app.get('/v1.0/healthz', async (req, reply) => {
      const appid = queryValue(req, 'appid');
      if (appid !== undefined && appid !== rt.appId) throw new MortarError('ERR_HEALTH_APPID_NOT_MATCH');
      if (!rt.ready()) throw new MortarError('ERR_HEALTH_NOT_READY', [`[${rt.notReadyTargets().join(' ')}]`]);
      return reply.code(204).send();
    });

    app.get('/v1.0/healthz/outbound', async (_req, reply) => {
      if (!rt.outboundReady()) throw new MortarError('ERR_OUTBOUND_HEALTH_NOT_READY');
      return reply.code(204).send();
    });
  };
}
