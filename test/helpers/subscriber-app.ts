/**
 * A real HTTP app for pub/sub tests: answers `GET /dapr/subscribe` with the given subscriptions and
 * records every delivery. `respond` decides each answer (status and body) per delivery. It also answers
 * the sidecar's other calls, recorded apart from deliveries: `GET /dapr/config` (with `appConfig`, 404 when
 * unset) and the health probe `GET /healthz` (200 while `healthy`, else 503).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntil } from './wait.js';

export interface Delivery {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  event: Record<string, unknown> | undefined;
  at: number;
}

export class SubscriberApp {
  readonly deliveries: Delivery[] = [];
  respond: (d: Delivery) => { status?: number; body?: string } = () => ({ status: 200 });
  /** How long the app takes to answer each delivery. */
  delayMs = 0;
  /** While set, deliveries are recorded but not answered until it resolves (see `hold`). */
  #gate?: Promise<void>;
  /** The body of `GET /dapr/config`; undefined: 404. */
  appConfig?: unknown;
  /** What `GET /healthz` answers: 200 while true, 503 otherwise. */
  healthy = true;
  /** The sidecar's init calls (`/dapr/config`, `/dapr/subscribe`) and health probes, in arrival order. */
  readonly calls: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders; at: number }> = [];
  readonly #server: http.Server;

  private constructor(
    server: http.Server,
    readonly subscriptions: unknown[],
  ) {
    this.#server = server;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Listens on `port` (default: a free one) of 127.0.0.1. */
  static async start(subscriptions: unknown[] = [], port = 0): Promise<SubscriberApp> {
    let app: SubscriberApp | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const call = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, at: Date.now() };
        if (req.method === 'GET' && req.url === '/dapr/config') {
          app!.calls.push(call);
          if (app!.appConfig === undefined) res.statusCode = 404;
          else res.setHeader('content-type', 'application/json');
          res.end(app!.appConfig === undefined ? '' : JSON.stringify(app!.appConfig));
          return;
        }
        if (req.method === 'GET' && req.url === '/healthz') {
          app!.calls.push(call);
          res.statusCode = app!.healthy ? 200 : 503;
          res.end();
          return;
        }
        if (req.method === 'GET' && req.url === '/dapr/subscribe') {
          app!.calls.push(call);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(app!.subscriptions));
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        let event: Record<string, unknown> | undefined;
        try {
          event = JSON.parse(body) as Record<string, unknown>;
        } catch {
          /* not JSON */
        }
        const d: Delivery = { path: req.url ?? '', headers: req.headers, body, event, at: Date.now() };
        app!.deliveries.push(d);
        const answer = () => {
          const r = app!.respond(d);
          res.statusCode = r.status ?? 200;
          if (r.body !== undefined) res.setHeader('content-type', 'application/json');
          res.end(r.body ?? '');
        };
        const go = () => {
          if (app!.delayMs > 0) setTimeout(answer, app!.delayMs);
          else answer();
        };
        if (app!.#gate) void app!.#gate.then(go);
        else go();
      });
    });
    app = new SubscriberApp(server, subscriptions);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    return app;
  }

  /**
   * Holds every answer, to deliveries already here and to come, until the returned function is called
   * (then each waits `delayMs` as usual): the sidecar's in-flight window fills and stays full, whatever
   * the machine's speed.
   */
  hold(): () => void {
    let release!: () => void;
    this.#gate = new Promise<void>((r) => {
      release = r;
    });
    return () => {
      this.#gate = undefined;
      release();
    };
  }

  /** Deliveries to `path`, in arrival order. */
  on(path: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === path);
  }

  /** Waits until `pred()` holds; the error says how many deliveries had arrived. */
  async until(pred: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    await waitUntil(pred, `${what} (${this.deliveries.length} deliveries when the wait began)`, timeoutMs);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }
}
