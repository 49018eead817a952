// world: planned-output-binding-component
/**
 * bindings.http: an output binding that sends HTTP requests, as Dapr's `bindings.http` (components-contrib
 * `bindings/http/http.go`), through `mortar:host/http`. The origin of `url` is the one granted.
 *
 * Operations `create` (an alias of `post`), `get`, `head`, `post`, `put`, `patch`, `delete`, `options`,
 * `trace`. The request goes to `url`, or to `url` + `/` + the request metadata `path`; the data is the
 * body of `post`, `put` and `patch` (with `Content-Type: application/json; charset=utf-8` unless the
 * metadata sets one); `Accept: application/json; charset=utf-8` unless set; every request metadata key that
 * starts with a capital letter is a header, as are `traceparent`, `tracestate` and `baggage`; and
 * `securityToken` goes in the header `securityTokenHeader`.
 *
 * The response data is the body (cut at `maxResponseBodySize`, default 100Mi, as Dapr's LimitReader
 * does), with metadata `statusCode` (`"200"`), `status` (`"200 OK"`) and every response header under Go's
 * canonical name (`Content-Type`), repeated values joined with `, `. A status other than 2xx is an error
 * (`received status code 404`) unless `errorIfNot2XX` is false, in the component metadata or per request.
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import { send, type Request, type Response } from 'mortar:host/http@0.1.0';
import type * as P from '../lib/invoke-plan.js';
import { schema, toMap, type Pairs } from '../lib/guest.js';
import { bindingError, bindingFromHost, isTruthy, parseGoDuration, response, unsupported } from '../lib/binding.js';

const OPERATIONS = ['create', 'get', 'head', 'post', 'put', 'patch', 'delete', 'options', 'trace'];
const WITH_BODY = new Set(['PUT', 'POST', 'PATCH']);

/** Go's `http.StatusText`, for the `status` metadata (`resp.Status`). */
const STATUS_TEXT: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  102: 'Processing',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  414: 'Request URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
};

let settings: Record<string, string> = {};
let errorIfNot2XX = true;
let timeoutMs: number | undefined;
let maxBody = 100 * 1024 * 1024;

/** Canonical names already computed: the same few header names come back on every response. */
const CANONICAL = new Map<string, string>();

/** Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` -> `Content-Type`. */
function canonical(name: string): string {
  let c = CANONICAL.get(name);
  if (c !== undefined) return c;
  c = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)
    ? name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase())
    : name;
  if (CANONICAL.size < 1024) CANONICAL.set(name, c);
  return c;
}

/** A Kubernetes resource quantity as `kit/metadata.ByteSize` reads it (`100`, `1k`, `10Ki`, `1M`, `1G`). */
function byteSize(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(raw.trim());
  if (!m) return undefined;
  const pow: Record<string, number> = {
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return Math.ceil(Number(m[1]) * (m[2] ? pow[m[2]]! : 1));
}

/** Sets a header the way Go's `Header.Set` does: replacing any earlier value of the same name. */
function setHeader(headers: Array<[string, string]>, name: string, value: string): void {
  const c = canonical(name);
  for (let i = headers.length - 1; i >= 0; i--) if (canonical(headers[i]![0]) === c) headers.splice(i, 1);
  headers.push([c, value]);
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `http` (dapr/dapr cmd/daprd/components/binding_http.go).
      types: ['bindings.http'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          url: {
            type: 'string',
            pattern: '^https?://',
            'x-mortar-grant': 'http',
            description: 'The base URL of the HTTP endpoint to invoke',
            'x-example': 'http://myservice:8000/customer',
          },
          responseTimeout: { type: 'string', description: 'A Go duration after which a request is given up ("10s", "5m").' },
          maxResponseBodySize: { type: 'string', description: 'Most of a response body read, as a resource quantity ("100Mi"); 0 or less: no limit.' },
          securityToken: { type: 'string', 'x-sensitive': true },
          securityTokenHeader: { type: 'string' },
          errorIfNot2XX: { type: 'string', description: 'Fail on a status other than 2xx (default true).' },
          MTLSRootCA: { type: 'string', description: 'Not supported: refused at init.' },
          MTLSClientCert: { type: 'string', description: 'Not supported: refused at init.' },
          MTLSClientKey: { type: 'string', 'x-sensitive': true, description: 'Not supported: refused at init.' },
          MTLSRenegotiation: { type: 'string', enum: ['RenegotiateNever', 'RenegotiateOnceAsClient', 'RenegotiateFreelyAsClient'] },
        },
        ['url'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    for (const k of ['MTLSRootCA', 'MTLSClientCert', 'MTLSClientKey']) {
      if (settings[k]) throw { tag: 'invalid-metadata', val: `${k}: client certificates and custom root CAs are not supported by mortar:host/http` };
    }
    if (settings.responseTimeout) {
      const ms = parseGoDuration(settings.responseTimeout);
      if (ms === undefined || ms < 0) throw { tag: 'invalid-metadata', val: `responseTimeout: '${settings.responseTimeout}' is not a Go duration such as 10s` };
      timeoutMs = ms > 0 ? Math.min(Math.ceil(ms), 2 ** 32 - 1) : undefined;
    }
    if (settings.maxResponseBodySize) {
      const n = byteSize(settings.maxResponseBodySize);
      if (n === undefined)
        throw { tag: 'invalid-metadata', val: `maxResponseBodySize: invalid value for maxResponseBodySize: '${settings.maxResponseBodySize}'` };
      maxBody = n;
    }
    errorIfNot2XX = settings.errorIfNot2XX ? isTruthy(settings.errorIfNot2XX) : true;
  },
  ping() {
    /* Dapr's http binding has no ping; sending a request to check would have side effects */
  },
};

/** The request an invocation sends, and what `answer` needs of the invocation. */
interface Outbound {
  req: Request;
  /** Fail on a status other than 2xx. */
  failOn: boolean;
}

/** The request of one invocation, as Dapr builds it. */
function requestOf(r: O.InvokeRequest): Outbound {
  if (!OPERATIONS.includes(r.operation.toLowerCase())) unsupported(r, OPERATIONS);
  const md = toMap(r.metadata);
  let url = settings.url!;
  if (md.path) url = `${url.replace(/\/+$/, '')}/${md.path.replace(/^\/+/, '')}`;
  const failOn = md.errorIfNot2XX ? isTruthy(md.errorIfNot2XX) : errorIfNot2XX;
  let method = r.operation.toUpperCase();
  if (method === 'CREATE') method = 'POST';
  const body = WITH_BODY.has(method);
  const headers: Array<[string, string]> = [];
  if (body && md['Content-Type'] === undefined) setHeader(headers, 'Content-Type', 'application/json; charset=utf-8');
  if (md.Accept === undefined) setHeader(headers, 'Accept', 'application/json; charset=utf-8');
  if (settings.securityToken && settings.securityTokenHeader) setHeader(headers, settings.securityTokenHeader, settings.securityToken);
  for (const [k, v] of r.metadata) if (/^[A-Z]/.test(k)) setHeader(headers, k, v);
  for (const k of ['traceparent', 'tracestate', 'baggage']) if (md[k]) setHeader(headers, k, md[k]!);
  return { req: { method, url, headers, body: body ? r.data : new Uint8Array(0), timeoutMs }, failOn };
}

/** What `send` failing means for the invocation. */
function sendFailed(err: unknown, req: Request): never {
  throw bindingFromHost(err, `${req.method} ${req.url}`);
}

/** The invocation's response, from the HTTP response: Dapr's metadata, and its status check. */
function answer(res: Response, failOn: boolean): O.InvokeResponse {
  const meta: Pairs = [
    ['statusCode', String(res.status)],
    ['status', `${res.status} ${STATUS_TEXT[res.status] ?? ''}`.trimEnd()],
  ];
  // Repeated names joined with ", " at the first one's place, as Go's header map gives them.
  const at = new Map<string, number>();
  for (const [k, v] of res.headers) {
    const c = canonical(k);
    const i = at.get(c);
    if (i === undefined) {
      at.set(c, meta.length);
      meta.push([c, v]);
    } else meta[i] = [c, `${meta[i]![1]}, ${v}`];
  }
  if (failOn && Math.floor(res.status / 100) !== 2) throw bindingError('other', `received status code ${res.status}`);
  const data = maxBody > 0 && res.body.length > maxBody ? res.body.subarray(0, maxBody) : res.body;
  return response(data, meta);
}

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    const { req, failOn } = requestOf(r);
    let res: Response;
    try {
      res = send(req);
    } catch (err) {
      sendFailed(err, req);
    }
    return answer(res, failOn);
  },
};

/** Each planned invocation is its one request; the context carries what `answer` needs. */
export const invokePlan = {
  plan(requests: O.InvokeRequest[]): P.Planned[] {
    return requests.map((r): P.Planned => {
      try {
        const { req, failOn } = requestOf(r);
        // The context: the status check, then the request line for error messages.
        return { tag: 'ok', val: { io: { tag: 'http-send', val: req }, context: `${failOn ? 1 : 0}${req.method} ${req.url}`, noneIfOk: false } };
      } catch (err) {
        return { tag: 'err', val: bindingFromHost(err) };
      }
    });
  },

  finish(outcomes: P.IoOutcome[]): P.Finished[] {
    return outcomes.map(({ context, reply }): P.Finished => {
      try {
        if (reply.tag !== 'http-send') throw bindingError('other', `http binding: unexpected ${reply.tag} reply`);
        const space = context.indexOf(' ');
        if (reply.val.tag === 'err') sendFailed(reply.val.val, { method: context.slice(1, space), url: context.slice(space + 1) } as Request);
        return { tag: 'ok', val: answer(reply.val.val, context[0] === '1') };
      } catch (err) {
        return { tag: 'err', val: bindingFromHost(err) };
      }
    });
  },
};
