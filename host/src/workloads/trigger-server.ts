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
import { type AddressInfo, Server as NetServer } from 'node:net';
import { DEFAULTS } from '../config.js';
import { MortarError, toDaprBody } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StaticResponse } from './spin-manifest.js';
import { spinHeaders, WELL_KNOWN_PREFIX, type SpinRouter } from './spin-routes.js';
import type { WorkloadHandler, WorkloadResponse } from './workload-handler.js';

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

/**
 * Whether this platform can share a listening address among threads (`listen(host, port, 'first')`): Node's
 * `reusePort` raises an error on the others (macOS and Windows among them), and only Linux and FreeBSD spread
 * connections over the sockets sharing it.
 */
export const CAN_SHARE_LISTENER = process.platform === 'linux' || process.platform === 'freebsd';

/** `RoutedRequest.body` over the limit (answered 413). */
export class BodyTooLarge extends Error {}

const utf8 = new TextEncoder();

/** The listener. */
export class TriggerServer {
  readonly #server: Server;
  #port = 0;
  #host = '';
  /** Once it no longer accepts (each response then closes its connection): resolves when its last connection has ended. */
  #closed?: Promise<void>;

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

  /**
   * Listens; resolves with the bound port (useful with port 0). `share`: `first` opens the address for other
   * listeners of this process (`SO_REUSEPORT`: the workers of `worker-trigger.ts` join it, and the kernel
   * spreads connections over them), having checked that nothing else listens there (a listener of another
   * process sharing it would be given connections too); `join` joins a listener opened so.
   */
  async listen(host: string, port: number, share?: 'first' | 'join'): Promise<number> {
    let at = port;
    if (share === 'first') {
      // Bound once as usual, so an address in use fails as it would unshared, then closed and bound shared.
      const probe = createServer();
      at = await bind(probe, host, port, false);
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
    this.#port = await bind(this.#server, host, at, share !== undefined);
    this.#host = host;
    return this.#port;
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /** `http://host:port` of the listener. */
  get url(): string {
    return `http://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }

  /** The address it is bound to (`127.0.0.1` for `localhost`, say): what the workers join. */
  get boundAddress(): string {
    return (this.#server.address() as AddressInfo).address;
  }

  /**
   * Stops taking connections (the workers that joined its address take the new ones), keeping those it has and
   * the address it had (`url`). From now on each response closes its connection (`connection: close`), so
   * clients move to a new one; an idle keep-alive connection is left to the client, which closes it before the
   * server's keep-alive timeout (the `keep-alive: timeout` Node sends): closing it here could cross a request
   * being sent on it.
   */
  stopAccepting(): void {
    if (this.#closed) return;
    // net.Server's own close: http.Server's also closes the idle keep-alive connections at once.
    this.#closed = new Promise<void>((resolve) => NetServer.prototype.close.call(this.#server, () => resolve()));
  }

  /** Stops accepting, lets in-flight requests finish for at most `graceMs`, then cuts what is left. */
  async close(graceMs: number): Promise<void> {
    this.stopAccepting();
    const closed = this.#closed;
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    try {
      this.#server.closeIdleConnections();
      await closed;
    } finally {
      clearInterval(sweep);
      clearTimeout(deadline);
    }
    // http.Server's own close, now that net.Server's is done: it also stops its connection-checking timer.
    this.#server.close();
    await this.opts.handler.close?.();
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    const remote = req.socket.remoteAddress ?? '';
    const headers: Array<[string, string]> = [];
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const answer = await serveRouted(this.opts, {
      method: req.method ?? 'GET',
      pathWithQuery,
      headers,
      host: req.headers.host,
      authority: this.authority,
      clientAddr: `${remote.includes(':') ? `[${remote}]` : remote}:${req.socket.remotePort ?? 0}`,
      body: () => readBody(req, this.opts.maxBodyBytes),
      signal: abort.signal,
    });
    const draining = this.#closed !== undefined;
    const head: string[] = (draining ? answer.headers.filter(([k]) => k !== 'connection') : answer.headers).flat();
    if (draining) head.push('connection', 'close');
    res.writeHead(answer.status, head);
    res.end(answer.body);
  }

  /** `host:port` of the listener: the authority of a request that names none (and of the app channel's calls). */
  get authority(): string {
    return `${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }
}

/** Binds `server` to `host:port` (`reusePort`: shared, `SO_REUSEPORT`); resolves with the bound port. */
function bind(server: Server, host: string, port: number, reusePort: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`--listen ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen({ port, host, reusePort }, () => {
      server.off('error', onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/** What routing a request takes: the listener's options less the listening ones. */
export type RouteOptions = Pick<TriggerServerOptions, 'appId' | 'appVersion' | 'router' | 'staticResponses' | 'handler' | 'logger'>;

/** One request to route (from the listener, or from the app channel: `workload-app.ts`). */
export interface RoutedRequest {
  readonly method: string;
  /** Origin-form: `/path?query`. */
  readonly pathWithQuery: string;
  /** The headers as received, names in lower case, in order (`host` and the forbidden ones are dropped here). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The `Host` header, if any. */
  readonly host?: string;
  /** The authority when there is no `Host` header. */
  readonly authority: string;
  /** `spin-client-addr`. */
  readonly clientAddr: string;
  /** Reads the body; rejects with `BodyTooLarge` over the limit. Called only for a request a component serves. */
  readonly body: () => Promise<Uint8Array>;
  readonly signal: AbortSignal;
}

/**
 * The answer to one request, routed as `spin up` routes it (see the module comment): the well-known paths,
 * 404 for no route, a static response, or the component the route names, with Spin's headers set.
 */
export async function serveRouted(opts: RouteOptions, req: RoutedRequest): Promise<WorkloadResponse> {
  const { router, logger } = opts;
  const q = req.pathWithQuery.indexOf('?');
  const path = q < 0 ? req.pathWithQuery : req.pathWithQuery.slice(0, q);
  logger.debug({ path }, `Processing request on path '${path}'`);
  const empty = (status: number): WorkloadResponse => ({ status, headers: [], body: new Uint8Array(0) });
  if (path.startsWith(WELL_KNOWN_PREFIX)) {
    const which = path.slice(WELL_KNOWN_PREFIX.length);
    if (which === 'health') return { status: 200, headers: [['content-type', 'text/plain']], body: utf8.encode('OK') };
    if (which === 'info') {
      const info = opts.appVersion === undefined ? { name: opts.appId } : { name: opts.appId, version: opts.appVersion };
      return { status: 200, headers: [['content-type', 'application/json']], body: utf8.encode(JSON.stringify(info, null, 2)) };
    }
    return empty(404);
  }
  const match = router.route(path);
  if (!match) return empty(404);
  if ('trigger' in match.target) {
    const sr = opts.staticResponses.get(match.target.trigger);
    return { status: sr?.status ?? 200, headers: sr?.headers ?? [], body: utf8.encode(sr?.body ?? '') };
  }
  const componentId = match.target.component;
  let body: Uint8Array;
  try {
    body = await req.body();
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    const e = new MortarError('ERR_BODY_READ', ['request body too large'], { http: 413 });
    return {
      status: 413,
      headers: [
        ['content-type', 'application/json'],
        ['connection', 'close'],
      ],
      body: utf8.encode(JSON.stringify(toDaprBody(e, opts.appId))),
    };
  }
  const spin = spinHeaders(match, { scheme: 'http', host: req.host, pathWithQuery: req.pathWithQuery, clientAddr: req.clientAddr });
  const replaced = new Set(spin.map(([k]) => k));
  const headers: Array<[string, string]> = [];
  for (const [name, value] of req.headers) {
    if (replaced.has(name) || FORBIDDEN_HEADERS.has(name)) continue;
    headers.push([name, value]);
  }
  headers.push(...spin);
  try {
    return await opts.handler.handle(componentId, {
      method: req.method,
      scheme: 'http',
      authority: req.host ?? req.authority,
      pathWithQuery: req.pathWithQuery,
      headers,
      body,
      signal: req.signal,
    });
  } catch (err) {
    logger.error({ component: componentId, err: (err as Error).message }, `Error processing request: component ${componentId}: ${(err as Error).message}`);
    return empty(500);
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
