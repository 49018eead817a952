/**
 * What every Redis-backed built-in shares: the connection metadata (Dapr's names) in its schema, and the
 * `mortar:host/redis` connect options made from it.
 */
import type { ConnectOptions } from 'mortar:host/redis@0.1.0';

/** Schema properties for the connection; `redisHost` is the granted address. */
export const REDIS_CONNECTION_PROPERTIES = {
  redisHost: { type: 'string', minLength: 1, 'x-mortar-grant': 'redis', description: 'host:port of the Redis server', 'x-example': '127.0.0.1:6379' },
  redisUsername: { type: 'string' },
  redisPassword: { type: 'string', 'x-sensitive': true },
  redisDB: { type: 'integer', minimum: 0, maximum: 15, default: 0 },
  enableTLS: { type: 'boolean', default: false },
};

/** Connect options from validated metadata (the first address when `redisHost` lists several). */
export function redisConnectOptions(m: Record<string, string>, exclusive = false): ConnectOptions {
  return {
    address: m.redisHost!.split(',')[0]!.trim(),
    username: m.redisUsername || undefined,
    password: m.redisPassword || undefined,
    database: Number(m.redisDB ?? '0'),
    tls: m.enableTLS === 'true',
    exclusive,
  };
}
