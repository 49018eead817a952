/**
 * The shape of every `mortar:host` capability the bridge carries: its free functions and its resources (static
 * constructors and methods), by WIT name. This is the one place a capability's operations are spelled; from it
 * the sandbox builds a component's imports (`guest-imports.ts`) and the capability thread routes each call to
 * its handler (`capabilities.ts`, whose type requires one handler per entry here). A unit test checks it
 * against the WIT in `wit/deps/host/` with jco's own parser (test/unit/capability-shapes.test.ts).
 *
 * This module imports nothing: sandbox workers load it, and they must never load a protocol library.
 */

/** One resource of an interface: its static constructors and its methods, by WIT name. */
export interface ResourceShape {
  readonly statics: readonly string[];
  readonly methods: readonly string[];
}

/** One `mortar:host` interface as the bridge carries it. */
export interface CapabilityShape {
  /** Free functions, by WIT name. */
  readonly functions: readonly string[];
  /** Resources by WIT name. */
  readonly resources: Readonly<Record<string, ResourceShape>>;
}

/** Every bridged capability, by interface name (`redis` is `mortar:host/redis`). */
export const CAPABILITY_SHAPES = {
  redis: { functions: [], resources: { connection: { statics: ['open'], methods: ['command', 'pipeline'] } } },
  sql: { functions: [], resources: { connection: { statics: ['open'], methods: ['query', 'batch'] } } },
  amqp: {
    functions: [],
    resources: {
      connection: {
        statics: ['open'],
        methods: ['declare-exchange', 'declare-queue', 'bind-queue', 'publish', 'consume', 'cancel', 'receive', 'ack', 'nack'],
      },
    },
  },
  mqtt: { functions: [], resources: { client: { statics: ['connect'], methods: ['publish', 'subscribe', 'unsubscribe', 'receive', 'ack'] } } },
  nats: {
    functions: [],
    resources: {
      connection: {
        statics: ['open'],
        methods: ['ensure-stream', 'stream-for-subject', 'publish', 'consume', 'stop', 'receive', 'ack', 'nak'],
      },
    },
  },
  http: { functions: ['send'], resources: {} },
  directory: { functions: [], resources: { root: { statics: ['open'], methods: ['read', 'write', 'delete', 'list'] } } },
} as const satisfies Record<string, CapabilityShape>;

/** The name of a bridged capability (`mortar:host/<name>`). */
export type CapabilityName = keyof typeof CAPABILITY_SHAPES;

/**
 * The `mortar:host` interfaces the sandbox serves itself, without the bridge: `log` (fire and forget) and `clock`
 * (read in the sandbox). Every other interface of `wit/deps/host/` is in `CAPABILITY_SHAPES`.
 */
export const IN_SANDBOX = ['log', 'clock'] as const;

/** The bridge operation of a free function (`http.send`) or of a resource's static or method (`redis.connection.open`). */
export function opName(capability: string, resource: string | undefined, fn: string): string {
  return resource === undefined ? `${capability}.${fn}` : `${capability}.${resource}.${fn}`;
}

/** The bridge operation that releases a resource handle (brackets: no WIT name can take it). */
export function dropOp(capability: string, resource: string): string {
  return `${capability}.${resource}.[drop]`;
}

/** A WIT name as jco names a function or method in JavaScript: `declare-exchange` is `declareExchange`. */
export function jcoFunctionName(wit: string): string {
  return wit.replace(/^%/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A WIT resource name as jco names its class: `connection` is `Connection`, `input-stream` is `InputStream`. */
export function jcoClassName(wit: string): string {
  const f = jcoFunctionName(wit);
  return f.charAt(0).toUpperCase() + f.slice(1);
}
