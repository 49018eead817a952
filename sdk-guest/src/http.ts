/**
 * HTTP over `wasi:http`: the workload's incoming requests (its own routes, and the sidecar's pub/sub
 * deliveries and binding events) read into plain `Request` values (`router.ts`) and the `Response` written back.
 * `serve(router)` is what the workload exports as `incomingHandler`.
 */
import type { IncomingRequest, ResponseOutparam } from 'wasi:http/types@0.2.12';
import { Fields, IncomingBody, OutgoingBody, OutgoingResponse, ResponseOutparam as Outparam } from 'wasi:http/types@0.2.12';
import { json, text, toBytes, utf8Encode } from './bytes.js';
import { HttpError, parseQuery, type Handler, type Request, type Response, type Router } from './router.js';

/** The most bytes of a request body the SDK reads (a bigger body is answered 413). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

const METHODS: Record<string, string> = {
  get: 'GET',
  head: 'HEAD',
  post: 'POST',
  put: 'PUT',
  delete: 'DELETE',
  connect: 'CONNECT',
  options: 'OPTIONS',
  trace: 'TRACE',
  patch: 'PATCH',
};

/** Reads a `wasi:http` request, body included (at most `MAX_BODY_BYTES`: beyond, `HttpError` 413). */
export function readRequest(r: IncomingRequest): Omit<Request, 'params'> {
  const m = r.method();
  const method = m.tag === 'other' ? m.val.toUpperCase() : METHODS[m.tag]!;
  const pq = r.pathWithQuery() ?? '/';
  const q = pq.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [k, v] of r.headers().entries()) {
    const name = k.toLowerCase();
    headers[name] = name in headers ? `${headers[name]}, ${text(v)}` : text(v);
  }
  const body = readBody(r);
  return {
    method,
    path: q < 0 ? pq : pq.slice(0, q),
    query: q < 0 ? {} : parseQuery(pq.slice(q + 1)),
    headers,
    body,
    text: () => text(body),
    json: <T>() => json<T>(body, 'request body'),
  };
}

function readBody(r: IncomingRequest): Uint8Array {
  const incoming = r.consume();
  const stream = incoming.stream();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let chunk: Uint8Array;
      try {
        chunk = stream.blockingRead(65536n);
      } catch (e) {
        const err = (e as { payload?: { tag?: string } }).payload ?? (e as { tag?: string });
        if (err.tag === 'closed') break;
        throw e;
      }
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
  } finally {
    stream[Symbol.dispose]?.();
    IncomingBody.finish(incoming);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Sends `res` to `out` (the body in writes of at most 4096 bytes, as `blocking-write-and-flush` takes them). */
export function writeResponse(res: Response, out: ResponseOutparam): void {
  const { bytes, json: isJson } = res.body === undefined ? { bytes: new Uint8Array(), json: false } : toBytes(res.body);
  const headers: Record<string, string> = { ...(res.headers ?? {}) };
  const lower = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
  if (!lower.has('content-type') && bytes.length > 0) headers['content-type'] = isJson ? 'application/json' : 'text/plain; charset=utf-8';
  const response = new OutgoingResponse(Fields.fromList(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), utf8Encode(v)])));
  response.setStatusCode(res.status ?? 200);
  const body = response.body();
  Outparam.set(out, { tag: 'ok', val: response });
  const stream = body.write();
  for (let at = 0; at < bytes.length; at += 4096) stream.blockingWriteAndFlush(bytes.subarray(at, at + 4096));
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(body, undefined);
}

/**
 * The `wasi:http/incoming-handler` export of a workload serving `router` (or a single handler):
 * `export const incomingHandler = serve(router);`.
 */
export function serve(router: Router | Handler): { handle(request: IncomingRequest, responseOut: ResponseOutparam): void } {
  const handle =
    typeof router === 'function'
      ? (req: Omit<Request, 'params'>) => router({ ...req, params: {} }) ?? { status: 204 }
      : (req: Omit<Request, 'params'>) => router.handle(req);
  return {
    handle(request, responseOut) {
      let res: Response;
      try {
        res = handle(readRequest(request));
      } catch (e) {
        res = e instanceof HttpError ? { status: e.status, body: e.message } : { status: 500, body: String(e) };
      }
      writeResponse(res, responseOut);
    },
  };
}
