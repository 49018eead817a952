// world: output-binding-component
/**
 * bindings.redis: an output binding to Redis, as Dapr's `bindings.redis` (components-contrib
 * `bindings/redis/redis.go`), with the connection metadata of Dapr's Redis components (`redisHost`, ...).
 *
 * Operations, each with the key in the request metadata `key` (missing: invalid-argument):
 * * `create`: `SET key data`, then `EXPIRE key <seconds>` when `ttl`/`ttlInSeconds` is given (a Go
 *   duration or whole seconds, as `metadata.TryGetTTL`); no response.
 * * `get`: the value as the response data; a missing key answers a response with empty data. With
 *   metadata `delete: "true"` it is `GETDEL`.
 * * `delete`: `DEL key`; no response.
 * * `increment`: `INCR key`, then the TTL as for create; no response.
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import { Connection, type Argument, type Value } from 'mortar:host/redis@0.1.0';
import { REDIS_CONNECTION_PROPERTIES, redisConnectOptions } from '../lib/redis-connection.js';
import { schema, toMap, type Pairs } from '../lib/guest.js';
import { bindingError, bindingFromHost, response, ttlMs, unsupported } from '../lib/binding.js';

const OPERATIONS = ['create', 'delete', 'get', 'increment'];

let settings: Record<string, string> = {};
let conn: Connection | undefined;

function connection(): Connection {
  if (!conn) {
    try {
      conn = Connection.open(redisConnectOptions(settings));
    } catch (err) {
      throw bindingFromHost(err, `redis binding: error connecting to redis at ${settings.redisHost}`);
    }
  }
  return conn;
}

function run(args: Argument[]): Value[] {
  try {
    return connection().command(args);
  } catch (err) {
    throw bindingFromHost(err, `redis binding: ${String(args[0]!.val)}`);
  }
}

const text = (v: string): Argument => ({ tag: 'text', val: v });

function expireIfRequested(md: Pairs, key: string): void {
  const ttl = ttlMs(md);
  if (ttl !== undefined) run([text('EXPIRE'), text(key), { tag: 'int', val: Math.trunc(ttl / 1000) as unknown as bigint }]);
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `redis` (dapr/dapr cmd/daprd/components/binding_redis.go).
      types: ['bindings.redis'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          ...REDIS_CONNECTION_PROPERTIES,
          redisType: { type: 'string', enum: ['node'], default: 'node', description: 'Only a single node is supported.' },
          redisMaxRetries: { type: 'integer' },
          redisMinRetryInterval: { type: 'string' },
          redisMaxRetryInterval: { type: 'string' },
          dialTimeout: { type: 'string' },
          readTimeout: { type: 'string' },
          writeTimeout: { type: 'string' },
          poolSize: { type: 'integer' },
          poolTimeout: { type: 'string' },
          maxConnAge: { type: 'string' },
          minIdleConns: { type: 'integer' },
          idleCheckFrequency: { type: 'string' },
          idleTimeout: { type: 'string' },
        },
        ['redisHost'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    try {
      connection().command([text('PING')]);
    } catch (err) {
      const e = bindingFromHost(err);
      throw {
        tag: e.tag === 'unavailable' ? 'unavailable' : 'other',
        val: `redisHost: redis binding: error connecting to redis at ${settings.redisHost}: ${e.val}`,
      };
    }
  },
  ping() {
    try {
      run([text('PING')]);
    } catch (err) {
      throw (err as { val: string }).val;
    }
  },
};

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    if (!OPERATIONS.includes(r.operation)) unsupported(r, OPERATIONS);
    const md = toMap(r.metadata);
    const key = md.key;
    if (key === undefined || key === '') throw bindingError('invalid-argument', 'key: redis binding: missing key in request metadata');
    switch (r.operation) {
      case 'delete':
        run([text('DEL'), text(key)]);
        return undefined;
      case 'get': {
        const [v] = run([text(md.delete === 'true' ? 'GETDEL' : 'GET'), text(key)]);
        return response(v?.tag === 'bulk' ? v.val : new Uint8Array(0));
      }
      case 'create':
        ttlMs(r.metadata); // a bad TTL fails before anything is written
        run([text('SET'), text(key), { tag: 'binary', val: r.data }]);
        expireIfRequested(r.metadata, key);
        return undefined;
      default: // increment
        ttlMs(r.metadata);
        run([text('INCR'), text(key)]);
        expireIfRequested(r.metadata, key);
        return undefined;
    }
  },
};
