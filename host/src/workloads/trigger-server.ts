/**
 * The workload's HTTP listener (`mortar up --listen`, default `127.0.0.1:3000`): Spin's HTTP trigger in front
 * of a `WorkloadHandler`. Per request, as `spin up` does:
 *
 * - `/.well-known/spin/health` answers 200 `OK`, `/.well-known/spin/info` the app's name and version as JSON,
 *   any other path under `/.well-known/spin/` 404;
 * - a path no route matches answers 404 with an empty body;
 * - a route with a `static_response` answers it without running a component;
 * - otherwise the body is read (at most `--max-body-size`: over it, 413 `ERR_BODY_READ`), Spin's `spin-*`
 *   headers are set and the request goes to the handler; a handler that fails answers 500 with an empty body.
 *
 * A client's own `spin-*` header of a name Spin sets is replaced, so a client cannot pass for another address
 * or route (Spin appends its value after the client's). The headers wasmtime's `wasi:http` never shows a guest
 * (`FORBIDDEN_HEADERS`: `host` and the hop-by-hop ones) are left out, as under Spin; the guest reads the host
 * from the request's authority. Header and request deadlines are the HTTP API's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { DEFAULTS } from '../config.js';
import { MortarError, toDaprBody } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StaticResponse } from './spin-manifest.js';
import { spinHeaders, WELL_KNOWN_PREFIX, type SpinRouter } from './spin-routes.js';
import type { WorkloadHandler } from './workload-handler.js';

/** What the listener serves. */
export interface TriggerServerOptions {
  readonly appId: string;
  readonly appVersion?: string;
  readonly router: SpinRouter;
  /** Trigger id -> its static response (routes whose target is a trigger). */
  readonly staticResponses: ReadonlyMap<string, StaticResponse>;
  readonly handler: WorkloadHandler;
  /** `--max-body-size`. */
  readonly maxBodyBytes: number;
  readonly logger: Logger;
}

/** `--listen <host>:<port>` (`127.0.0.1:3000`, `[::1]:3000`, `localhost:3000`). */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`--listen: '${text}' is not <host>:<port> (e.g. 127.0.0.1:3000)`);
  return { host: (m[1] ?? m[2])!, port };
}

/** wasmtime-wasi-http's `DEFAULT_FORBIDDEN_HEADERS`, removed from every incoming request before a guest sees it. */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

class BodyTooLarge extends Error {}

/** The listener. */
export class TriggerServer {
  readonly #server: Server;
  #port = 0;
  #host = '';

  constructor(private readonly opts: TriggerServerOptions) {
    this.#server = createServer({ headersTimeout: DEFAULTS.httpHeadersTimeoutMs, requestTimeout: DEFAULTS.httpRequestTimeoutMs }, (req, res) => {
      this.#serve(req, res).catch((err: Error) => {
        opts.logger.error({ err: err.message }, `workload listener: ${err.message}`);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    this.#server.on('error', (err) => opts.logger.error({ err: err.message }, `workload listener: ${err.message}`));
  }

  /** Listens; resolves with the bound port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`--listen ${host}:${port}: ${err.message}`));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#port = (this.#server.address() as { port: number }).port;
    this.#host = host;
    return this.#port;
  }

  /** `http://host:port` of the listener. */
  get url(): string {
    return `http://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }

  /** Stops accepting, lets in-flight requests finish for at most `graceMs`, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    try {
      this.#server.closeIdleConnections();
      await closed;
    } finally {
      clearInterval(sweep);
      clearTimeout(deadline);
    }
    await this.opts.handler.close?.();
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { router, logger } = this.opts;
    let pathWithQuery = req.url ?? '/';
    if (!pathWithQuery.startsWith('/')) {
      // absolute-form (`GET http://host/path`) or `*`
      try {
        const u = new URL(pathWithQuery);
        pathWithQuery = `${u.pathname}${u.search}`;
      } catch {
        res.writeHead(400).end();
        return;
      }
    }
    const q = pathWithQuery.indexOf('?');
    const path = q < 0 ? pathWithQuery : pathWithQuery.slice(0, q);
    logger.debug({ path }, `Processing request on path '${path}'`);
    if (path.startsWith(WELL_KNOWN_PREFIX)) {
      const which = path.slice(WELL_KNOWN_PREFIX.length);
      if (which === 'health') res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
      else if (which === 'info') {
        const info = this.opts.appVersion === undefined ? { name: this.opts.appId } : { name: this.opts.appId, version: this.opts.appVersion };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(info, null, 2));
      } else res.writeHead(404).end();
      return;
    }
    const match = router.route(path);
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    if ('trigger' in match.target) {
      const sr = this.opts.staticResponses.get(match.target.trigger);
      res.writeHead(sr?.status ?? 200, sr?.headers.flatMap(([k, v]) => [k, v]) ?? []);
      res.end(sr?.body ?? '');
      return;
    }
    const componentId = match.target.component;
    let body: Uint8Array;
    try {
      body = await readBody(req, this.opts.maxBodyBytes);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      const e = new MortarError('ERR_BODY_READ', ['request body too large'], { http: 413 });
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(toDaprBody(e, this.opts.appId)));
      return;
    }
    const host = req.headers.host;
    const remote = req.socket.remoteAddress ?? '';
    const clientAddr = `${remote.includes(':') ? `[${remote}]` : remote}:${req.socket.remotePort ?? 0}`;
    const spin = spinHeaders(match, { scheme: 'http', host, pathWithQuery, clientAddr });
    const replaced = new Set(spin.map(([k]) => k));
    const headers: Array<[string, string]> = [];
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (replaced.has(name) || FORBIDDEN_HEADERS.has(name)) continue;
      headers.push([name, raw[i + 1]!]);
    }
    headers.push(...spin);
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    let answer: Awaited<ReturnType<WorkloadHandler['handle']>>;
    try {
      answer = await this.opts.handler.handle(componentId, {
        method: req.method ?? 'GET',
        scheme: 'http',
        authority: host ?? `${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`,
        pathWithQuery,
        headers,
        body,
        signal: abort.signal,
      });
    } catch (err) {
      logger.error({ component: componentId, err: (err as Error).message }, `Error processing request: component ${componentId}: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
      return;
    }
    res.writeHead(
      answer.status,
      answer.headers.flatMap(([k, v]) => [k, v]),
    );
    res.end(answer.body);
  }
}

/** Reads the whole body, refusing one over `max` bytes (by its Content-Length before reading, or as it arrives). */
function readBody(req: IncomingMessage, max: number): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.reject(new BodyTooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
