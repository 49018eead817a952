/**
 * Requests and responses as plain values, and routing by method and path: the engine-free half of the HTTP
 * helper (`http.ts` reads and writes them over `wasi:http`).
 */
import type { Body } from './bytes.js';

/** An incoming request, its body read. */
export interface Request {
  /** Upper case: `GET`, `POST`, ... */
  readonly method: string;
  /** The path, without the query: `/orders/42`. */
  readonly path: string;
  /** The query parameters (the first value of each). */
  readonly query: Readonly<Record<string, string>>;
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The `:name` segments of the matched route. */
  readonly params: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON (a body that is not JSON answers 400). */
  json<T = unknown>(): T;
}

/** What a handler answers. `body`: bytes or text as they are, anything else as JSON. */
export interface Response {
  status?: number;
  headers?: Record<string, string>;
  body?: Body;
}

/** Handles one request. */
export type Handler = (req: Request) => Response | undefined;

/** A handler failure with the status to answer (the message is the body). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly handler: Handler;
}

/** Routes requests by method and path (`/orders/:id`: `req.params.id`); unmatched paths answer 404. */
export class Router {
  readonly #routes: Route[] = [];

  /** Adds a route for `method` (`*` for any) and `path`. */
  on(method: string, path: string, handler: Handler): this {
    this.#routes.push({ method: method.toUpperCase(), segments: split(path), handler });
    return this;
  }
  get(path: string, handler: Handler): this {
    return this.on('GET', path, handler);
  }
  post(path: string, handler: Handler): this {
    return this.on('POST', path, handler);
  }
  put(path: string, handler: Handler): this {
    return this.on('PUT', path, handler);
  }
  delete(path: string, handler: Handler): this {
    return this.on('DELETE', path, handler);
  }

  /** The response to `req` (404 no route, 405 wrong method, the handler's `HttpError` status, 500 for anything thrown). */
  handle(req: Omit<Request, 'params'>): Response {
    let pathMatched = false;
    for (const r of this.#routes) {
      const params = match(r.segments, split(req.path));
      if (!params) continue;
      pathMatched = true;
      if (r.method !== '*' && r.method !== req.method) continue;
      try {
        return r.handler({ ...req, params }) ?? { status: 204 };
      } catch (e) {
        if (e instanceof HttpError) return { status: e.status, body: e.message };
        if (e instanceof SyntaxError) return { status: 400, body: e.message };
        return { status: 500, body: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
      }
    }
    return pathMatched ? { status: 405, body: `method ${req.method} not allowed on ${req.path}` } : { status: 404, body: `no route ${req.method} ${req.path}` };
  }
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function match(pattern: readonly string[], path: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(path[i]!);
    else if (p !== path[i]) return undefined;
  }
  return params;
}

/** The query string `q` (without `?`) as parameters: the first value of each name. */
export function parseQuery(q: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of q.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
    if (!(k in out)) out[k] = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
  }
  return out;
}
