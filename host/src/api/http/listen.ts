/**
 * Serves one HTTP API on several addresses (`--dapr-listen-addresses 127.0.0.1,::1`). The first address is
 * the fastify server's own; each further one is a plain TCP listener that hands its connections to that
 * same server, so every address gets the same routes, limits, timeouts and graceful shutdown.
 */
import { createServer, type Server } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../logger.js';

/** The addresses being served, as `host:port` (`[::1]:3500` for IPv6), and how to stop the extra ones. */
export interface Listening {
  readonly addresses: readonly string[];
  /** Stops accepting on the extra addresses at once; their open connections belong to the main server and
   *  are drained and closed with it. */
  close(): void;
}

/**
 * Listens on every host in `hosts` (at least one), on `port`; with port 0 the extra hosts take the port the
 * first one got. Fails if any address cannot be bound, having closed the extra listeners it opened (the
 * fastify server is the caller's to close). Once listening, an error on any listener (a failed accept, such as
 * EMFILE when out of file descriptors) is logged to `logger` and the server goes on: without a listener, an
 * 'error' event would end the process.
 */
export async function listenOnAll(app: FastifyInstance, port: number, hosts: readonly string[], logger: Logger): Promise<Listening> {
  await app.listen({ port, host: hosts[0] });
  const bound = (app.server.address() as { port: number }).port;
  const onError = (host: string) => (err: Error) =>
    logger.error({ address: `${host}:${bound}`, err: err.message }, `HTTP API listener on ${host} port ${bound}: ${err.message}`);
  app.server.on('error', onError(hosts[0]!));
  const extra: Server[] = [];
  // net.Server.close() stops listening at once; its callback would wait for the handed-over connections.
  const close = () => {
    for (const s of extra) s.close();
  };
  try {
    for (const host of hosts.slice(1)) {
      const s = createServer((socket) => app.server.emit('connection', socket));
      extra.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen({ port: bound, host }, () => {
          s.off('error', reject);
          s.on('error', onError(host));
          resolve();
        });
      });
    }
  } catch (err) {
    close();
    throw new Error(`cannot listen on ${hosts.join(', ')} port ${bound}: ${(err as Error).message}`, { cause: err });
  }
  return { addresses: hosts.map((h) => `${h.includes(':') ? `[${h}]` : h}:${bound}`), close };
}
