/**
 * The Dapr gRPC API server (`--dapr-grpc-port`): `dapr.proto.runtime.v1.Dapr` (`dapr-service.ts`) and the
 * standard health service (`health.ts`) on one @grpc/grpc-js server, listening on every
 * `--dapr-listen-addresses` address. Requests larger than `--max-body-size` are refused (RESOURCE_EXHAUSTED).
 * The app channel over gRPC (AppCallback) is a client of the app and does not live here.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../../logger.js';
import type { UniversalApi } from '../universal/universal-api.js';
import { CallsInFlight, daprService } from './dapr-service.js';
import { healthImplementation, healthService } from './health.js';
import { preloadDaprProtos } from '../../dapr-proto.js';
import { OpenStreams } from './topic-events.js';

export interface GrpcApiOptions {
  /** What every method calls: one universal API method per call. */
  readonly api: UniversalApi;
  readonly logger: Logger;
  /** Largest accepted request message, in bytes (`--max-body-size`). */
  readonly maxBodyBytes: number;
  /** `DAPR_API_TOKEN`: when set, every call but health checks must carry it in `dapr-api-token`. */
  readonly apiToken?: string;
}

/** A listening gRPC API: its addresses (`host:port`, `[::1]:50001` for IPv6), its port, and its graceful stop. */
export interface GrpcListening {
  readonly addresses: readonly string[];
  readonly port: number;
  /**
   * Stops accepting calls and lets those in flight finish, for at most `graceMs`; the calls still open then
   * are cancelled.
   */
  close(graceMs: number): Promise<void>;
}

/** A gRPC API server (not yet listening), the calls it is serving and its streaming subscriptions. */
export interface GrpcApi {
  readonly server: Server;
  readonly calls: CallsInFlight;
  readonly streams: OpenStreams;
}

/** Builds the gRPC API server (not yet listening): the Dapr service's methods, with their codecs loaded on first use. */
export function createGrpcApi(opts: GrpcApiOptions): GrpcApi {
  const server = new Server({ 'grpc.max_receive_message_length': opts.maxBodyBytes });
  const calls = new CallsInFlight();
  const streams = new OpenStreams();
  const dapr = daprService({ api: opts.api, logger: opts.logger, apiToken: opts.apiToken, calls, streams });
  server.addService(dapr.definition, dapr.implementation);
  server.addService(healthService, healthImplementation);
  return { server, calls, streams };
}

/** How long answered calls get to reach their clients at a stop, before the connections are cut. */
const FLUSH_MS = 500;

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Listens on every host in `hosts` (at least one), on `port`; with port 0 the other hosts take the port the
 * first one got. Fails if any address cannot be bound, with the server shut down.
 */
export async function listenGrpc({ server, calls, streams }: GrpcApi, port: number, hosts: readonly string[]): Promise<GrpcListening> {
  const bind = (address: string) =>
    new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
  let bound = port;
  try {
    bound = await bind(hostPort(hosts[0]!, port));
    for (const host of hosts.slice(1)) await bind(hostPort(host, bound));
  } catch (err) {
    server.forceShutdown();
    throw new Error(`cannot listen for the gRPC API on ${hosts.join(', ')} port ${bound}: ${(err as Error).message}`, { cause: err });
  }
  // No new calls (the listeners close, each connection is told GOAWAY); the streaming subscriptions end (their
  // events in flight answered first, briefly); the calls being served finish, for at most `graceMs`; their
  // answers then get `FLUSH_MS` to go out and the connections to close by themselves; whatever is left then
  // (a stream its client holds open, an idle connection) is cut.
  const close = async (graceMs: number) => {
    const shut = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await streams.closeAll(graceMs);
    const within = (p: Promise<void>, ms: number) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
    };
    await within(calls.idle(), graceMs);
    await within(shut, FLUSH_MS);
    server.forceShutdown();
    await shut;
  };
  return { addresses: hosts.map((h) => hostPort(h, bound)), port: bound, close };
}

/**
 * Builds the protos' reflection tree on the next turn (the first served call would otherwise), so that the
 * first call only generates its own messages' code; resolves when it is built.
 */
export async function preloadGrpcCodecs(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  preloadDaprProtos();
}
