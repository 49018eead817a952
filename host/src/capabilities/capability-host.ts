/**
 * Where components' host imports are performed. The runtime runs the capabilities on a thread of their own
 * (`CapabilityThread`); `InThreadCapabilities` runs them on the calling thread (tools and tests that drive
 * components directly).
 */
import type { MessagePort } from 'node:worker_threads';
import { serveBridge, type BridgeHost } from './bridge.js';
import { grantsFromSchema } from './grants.js';
import { ComponentHostEndpoint, type Connectors, type LogSink } from './host-endpoint.js';
import { RedisClients } from './redis.js';
import { SqlDatabases } from './sql.js';

export interface CapabilityHost {
  /**
   * The host side of one component's imports. `schema` is the component's metadata JSON Schema and
   * `metadata` the granting metadata (`grantingMetadata`: written in the resource, never a schema default):
   * together they say which endpoints it may reach.
   */
  endpoint(component: string, schema: string, metadata: Readonly<Record<string, string>>, logger: LogSink): BridgeHost;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** Capabilities served on this thread, with connections shared by every component of this host. */
export class InThreadCapabilities implements CapabilityHost {
  readonly #connectors: Connectors;

  constructor(dataDir: string) {
    this.#connectors = { redis: new RedisClients(), sql: new SqlDatabases(dataDir) };
  }

  endpoint(component: string, schema: string, metadata: Readonly<Record<string, string>>, logger: LogSink): BridgeHost {
    const endpoint = new ComponentHostEndpoint(component, grantsFromSchema(JSON.parse(schema), metadata), this.#connectors, logger);
    return {
      attach: (bridge: MessagePort, reply: SharedArrayBuffer) => serveBridge(bridge, reply, endpoint),
      close: () => endpoint.close(),
    };
  }

  async close(): Promise<void> {
    await this.#connectors.redis.closeAll();
    await this.#connectors.sql.closeAll();
  }
}
