/**
 * `mortar:host/http`: one outbound request per `send`, to a granted origin only, ended by the call's deadline.
 *
 * Rules: the URL is an absolute `http:`/`https:` URL without credentials, whose origin (scheme, host, port with
 * 80/443 for none) is granted (`x-mortar-grant: http`); redirects are never followed (a 3xx is the response);
 * `host`, when set, must name the URL's own host, and the host frames the message itself (`content-length`,
 * when set, must match the body; `transfer-encoding`, `connection` and the other hop-by-hop headers are
 * refused); the request gives up after its `timeout-ms` or at the call's deadline, whichever is first; a
 * response body over `CAPABILITY_LIMITS.httpResponseBodyBytes` is `too-large`.
 */
import { originOf } from './grants.js';
import { witError, isConnectionFailure, type WitError } from './wit-error.js';
import { CAPABILITY_LIMITS, mib } from './limits.js';
import type { CapabilityHandlers } from './capability.js';

/** Mirrors `mortar:host/http.request` (camelCase as jco lowers it). */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
  timeoutMs?: number;
}

/** Mirrors `mortar:host/http.response`. */
export interface HttpResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

/**
 * The HTTP client, undici's dispatcher, loaded on first use: a sidecar without http components never pays for
 * it. Not the global `fetch` (Node's own undici): it refuses `TRACE`, adds headers of its own (`accept`,
 * `user-agent`, `sec-fetch-mode`, ...) and decodes gzip bodies while the response still says
 * `content-encoding: gzip`. A dispatch follows no redirect and adds no header but `host` and
 * `content-length`; it is undici's lowest level, without the streams `request` builds around the body
 * (measured on this machine: 22-26 us of CPU per request against 60-72 us for `request` reading its body
 * with `for await` and an `AbortSignal`).
 */
let dispatcher: Promise<Pick<import('undici').Dispatcher, 'dispatch'>> | undefined;
/**
 * An Agent of mortar's own, not undici's global dispatcher: that one may be Node's bundled undici (once the
 * thread has called `fetch`), which refuses this handler API, or one a library replaced (with a proxy or
 * redirects). A failed load is not kept: the next send tries again.
 */
const loadDispatcher = () => {
  dispatcher ??= import('undici').then((u) => new u.Agent());
  dispatcher.catch(() => {
    dispatcher = undefined;
  });
  return dispatcher;
};

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']);
/** Headers that frame the message or the connection: the host sets them, a component may not. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The URL of a request, checked: absolute, `http:`/`https:`, no credentials. Throws `invalid-request`. */
export function requestUrl(url: unknown): URL {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    throw witError('invalid-request', `url '${String(url)}' is not an absolute URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw witError('invalid-request', `url scheme '${u.protocol.slice(0, -1)}' is not http or https`);
  if (u.username !== '' || u.password !== '') throw witError('invalid-request', 'url carries credentials: send them in an authorization header');
  return u;
}

/** The checked method and flat headers of a request. Throws `invalid-request` naming what is wrong. */
function checked(req: HttpRequest, url: URL): { method: string; headers: string[] } {
  const method = String(req.method).toUpperCase();
  if (!METHODS.has(method)) throw witError('invalid-request', `method '${req.method}' is not one of ${[...METHODS].join(', ')}`);
  const headers: string[] = [];
  for (const [name, value] of req.headers) {
    const lower = name.toLowerCase();
    if (!TOKEN.test(name)) throw witError('invalid-request', `header name '${name}' is not a valid token`);
    if (!FIELD_VALUE.test(value)) throw witError('invalid-request', `header ${name}: the value has characters a header may not carry`);
    if (HOP_BY_HOP.has(lower)) throw witError('invalid-request', `header ${name} is set by the host`);
    if (lower === 'host' && value.toLowerCase() !== url.host) throw witError('invalid-request', `header host '${value}' is not the url's host '${url.host}'`);
    if (lower === 'content-length' && value.trim() !== String(req.body.byteLength)) {
      throw witError('invalid-request', `header content-length ${value} is not the body's length ${req.body.byteLength}`);
    }
    if (lower === 'host' || lower === 'content-length') continue;
    headers.push(name, value);
  }
  return { method, headers };
}

/** Flattens response headers into WIT pairs, names lower-case, in the order received. */
function pairs(headers: Record<string, string | string[] | undefined>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const value of Array.isArray(v) ? v : [v]) out.push([name.toLowerCase(), value]);
  }
  return out;
}

/**
 * Sends `req` (its origin already granted) and reads the whole response, giving up at `deadline`
 * (`performance.now()`) or after the request's own `timeoutMs`, whichever comes first.
 */
export async function send(req: HttpRequest, deadline: number): Promise<HttpResponse> {
  const url = requestUrl(req.url);
  const { method, headers } = checked(req, url);
  const left = Math.floor(deadline - performance.now());
  const timeout = Math.min(req.timeoutMs ?? Infinity, left);
  const own = req.timeoutMs !== undefined && req.timeoutMs <= left;
  if (timeout <= 0) throw witError('unavailable', `${url.origin}: not sent, the call's deadline has passed`);
  const late = () => witError('unavailable', `${url.origin} did not answer within ${timeout}ms (${own ? "the request's timeout-ms" : "the call's deadline"})`);
  const limit = CAPABILITY_LIMITS.httpResponseBodyBytes;
  const d = await loadDispatcher();
  return new Promise<HttpResponse>((resolve, reject) => {
    let controller: { abort(reason: Error): void } | undefined;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    /** Ends the exchange once: `error` aborts it (the connection is not reused mid-response). */
    const end = (error: WitError | undefined, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        controller?.abort(new Error(String(error.val ?? error.tag)));
        reject(error);
      } else resolve(res!);
    };
    if (Number.isFinite(timeout)) timer = setTimeout(() => end(late()), timeout);
    let status = 0;
    let resHeaders: Array<[string, string]> = [];
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      d.dispatch(
        { origin: url.origin, path: `${url.pathname}${url.search}`, method, headers, body: req.body },
        {
          onRequestStart(c) {
            controller = c;
            if (settled) c.abort(new Error('given up'));
          },
          onResponseStart(_c, statusCode, h) {
            if (statusCode < 200) return; // an informational response: the real one follows
            status = statusCode;
            resHeaders = pairs(h as Record<string, string | string[] | undefined>);
            // A HEAD response declares the length of a body it does not carry.
            const declared = method === 'HEAD' ? 0 : Number(h['content-length'] ?? NaN);
            if (declared > limit) end(witError('too-large', `response body of ${declared} bytes is over the ${mib(limit)} the host reads`));
          },
          onResponseData(_c, chunk) {
            size += chunk.byteLength;
            if (size > limit) end(witError('too-large', `response body is over the ${mib(limit)} the host reads`));
            else chunks.push(chunk);
          },
          onResponseEnd() {
            // One copy of exactly the body's size (not a view of a pooled buffer) crosses to the sandbox.
            const body = new Uint8Array(size);
            let at = 0;
            for (const c of chunks) {
              body.set(c, at);
              at += c.byteLength;
            }
            end(undefined, { status, headers: resHeaders, body });
          },
          onResponseError(_c, err) {
            end(toWit(err, url));
          },
        },
      );
    } catch (err) {
      end(toWit(err, url));
    }
  });
}

function toWit(err: unknown, url: URL): WitError {
  const code = (err as { code?: string })?.code ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  if (
    /^(UND_ERR_INVALID_ARG|ERR_INVALID_HTTP_TOKEN|ERR_INVALID_CHAR|ERR_HTTP_INVALID_HEADER_VALUE|ERR_INVALID_ARG_VALUE|ERR_UNESCAPED_CHARACTERS)$/.test(code)
  ) {
    return witError('invalid-request', msg);
  }
  if (
    isConnectionFailure(err) ||
    /^(UND_ERR_|ECONN|EHOST|ENET|EAI_|ENOTFOUND|ETIMEDOUT|EPIPE|ERR_TLS_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/.test(code) ||
    /socket hang up|other side closed/i.test(msg)
  ) {
    return witError('unavailable', `${url.origin}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ''}`);
  }
  return witError('other', `${url.origin}: ${msg}`);
}

/** `mortar:host/http` on the host: `send`, checked against the origins the component's metadata grants. */
export const httpCapability: CapabilityHandlers<'http'> = {
  functions: {
    send: {
      grant: (args) => {
        const origin = originOf(requestUrl((args[0] as HttpRequest).url).href)!;
        return [{ kind: 'http', value: origin, shown: origin }];
      },
      run: (ctx, args) => send(args[0] as HttpRequest, ctx.deadline),
    },
  },
  resources: {},
};
