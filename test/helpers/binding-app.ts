/**
 * A real HTTP app for input binding tests: records every request the sidecar makes (method, path, headers,
 * body) and answers each as `respond` decides (default: 200 to everything, OPTIONS included).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AppRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

export class BindingApp {
  readonly requests: AppRequest[] = [];
  respond: (r: AppRequest) => number = () => 200;
  /** How long the app takes to answer each request (0: at once). */
  delayMs = 0;
  readonly #server: http.Server;

  private constructor(server: http.Server) {
    this.#server = server;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Listens on `port` (default: a free one) of 127.0.0.1. */
  static async start(port = 0): Promise<BindingApp> {
    let app: BindingApp | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r: AppRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        if (r.path === '/dapr/subscribe' || r.path === '/dapr/config') {
          res.statusCode = 404;
          res.end();
          return;
        }
        app!.requests.push(r);
        res.statusCode = app!.respond(r);
        const answer = () => res.end(res.statusCode >= 300 ? 'not now' : '');
        if (app!.delayMs > 0) setTimeout(answer, app!.delayMs);
        else answer();
      });
    });
    app = new BindingApp(server);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    return app;
  }

  /** Requests with `method` to `path`, in arrival order. */
  on(method: string, path: string): AppRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }
}
