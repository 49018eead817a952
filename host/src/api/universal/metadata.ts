/**
 * The metadata API's result (`GetMetadata`, `GET /v1.0/metadata`; spec 1.10), built from the runtime, and
 * the bounds on app-set metadata (`SetMetadata`, `PUT /v1.0/metadata/{key}`).
 */
import type { SubscriptionType } from '../../blocks/pubsub/subscription.js';
import type { AppHealthProperties, RuntimeView } from './runtime-view.js';
import { bindingCapabilities } from '../../blocks/bindings/direction.js';

/** A loaded component, as the metadata API lists it. */
export interface ComponentInfo {
  readonly name: string;
  readonly type: string;
  readonly version: string;
  /** The component's features (`ETAG`, `TRANSACTIONAL`, ...); for a binding `INPUT_BINDING` / `OUTPUT_BINDING`. */
  readonly capabilities: readonly string[];
}

/** A subscription in force, as the metadata API lists it. */
export interface SubscriptionInfo {
  readonly pubsubname: string;
  readonly topic: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The routing rules in order, the default route last with an empty `match`. */
  readonly rules: ReadonlyArray<{ readonly match: string; readonly path: string }>;
  /** Empty when there is none. */
  readonly deadLetterTopic: string;
  readonly type: SubscriptionType;
}

/** How the sidecar reaches the app, as the metadata API reports it. */
export interface AppConnectionProperties {
  readonly port: number;
  readonly protocol: string;
  readonly channelAddress: string;
  /** `--app-max-concurrency`; 0: unlimited. */
  readonly maxConcurrency: number;
  readonly health?: AppHealthProperties;
}

/** daprd's `GetMetadataResponse`, as far as mortar has its parts. */
export interface MetadataResult {
  readonly id: string;
  readonly runtimeVersion: string;
  readonly enabledFeatures: readonly string[];
  readonly actors: ReadonlyArray<{ readonly type: string; readonly count: number }>;
  readonly components: readonly ComponentInfo[];
  /** App-set metadata, and `daprRuntimeVersion`. */
  readonly extended: Readonly<Record<string, string>>;
  readonly subscriptions: readonly SubscriptionInfo[];
  readonly httpEndpoints: ReadonlyArray<{ readonly name: string }>;
  /** Present with `--app-port`. */
  readonly appConnectionProperties?: AppConnectionProperties;
}

/**
 * Bounds on the app-set `extended` metadata, which lives in memory for the process's life and has no
 * delete: at most `maxKeys` keys (overwriting an existing key is always allowed) and each value at most
 * `maxValueBytes` bytes, so at most ~6.4 MiB in all. Beyond either: `ERR_BAD_REQUEST` (HTTP 400 for too
 * many keys, 413 for a value too large) naming the key and the limit. The Dapr CLI's own keys (`cliPID`,
 * `appCommand`, ...) are a handful of short values.
 */
export const EXTENDED_METADATA_LIMITS = { maxKeys: 100, maxValueBytes: 64 * 1024 } as const;

/** The metadata of the runtime `rt`, as the metadata API reports it. */
export function metadataOf(rt: RuntimeView): MetadataResult {
  const app = rt.appConnection;
  return {
    id: rt.appId,
    runtimeVersion: rt.runtimeVersion,
    enabledFeatures: [],
    actors: [],
    components: rt.registry.list().map((c) => ({
      name: c.name,
      type: c.resource.type,
      version: c.resource.version,
      capabilities: c.block === 'bindings' ? bindingCapabilities(c) : c.features,
    })),
    extended: { ...Object.fromEntries(rt.extended), daprRuntimeVersion: rt.runtimeVersion },
    subscriptions: rt.subscriptions().map((s) => ({
      pubsubname: s.pubsubname,
      topic: s.topic,
      metadata: s.metadata,
      rules: [...s.rules, ...(s.defaultPath !== undefined ? [{ match: '', path: s.defaultPath }] : [])],
      deadLetterTopic: s.deadLetterTopic ?? '',
      type: s.type,
    })),
    httpEndpoints: [],
    appConnectionProperties: app && {
      port: app.port,
      protocol: app.protocol,
      channelAddress: app.channelAddress,
      maxConcurrency: 0,
      health: app.health,
    },
  };
}
