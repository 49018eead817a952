/**
 * mortar's own `wasi:http` 0.2 types and `outgoing-handler` for workload instances (every 0.2.x is the same
 * surface: 0.2.0 through 0.2.12 only added documentation gates).
 *
 * One request at a time: the host builds an `IncomingRequest` and a `ResponseOutparam` from a `WorkloadRequest`,
 * calls the guest's `incoming-handler.handle`, and reads the `WorkloadResponse` back from what the guest set and
 * wrote. Bodies are bytes in memory (streams from `wasi-io.ts`); the response body is bounded. An outgoing
 * request is sent when the guest first asks for its response (its body is then complete), through `send` (the
 * host checks it against the workload's allowed origins and performs it off this thread): blocking in a sync
 * worker, answering a promise in an async one (`FutureIncomingResponse`).
 */
import { type ByteSink, InputStream, IoError, OutputStream, Pollable, waits } from './wasi-io.js';

/** A request for a workload, as the host hands it over. */
export interface WorkloadRequest {
  readonly method: string;
  /** `http` or `https` (anything else is passed on as `other`). */
  readonly scheme: string;
  readonly authority: string;
  readonly pathWithQuery: string;
  readonly headers: ReadonlyArray<readonly [string, string | Uint8Array]>;
  readonly body: Uint8Array;
}

/** What a workload answered. */
export interface WorkloadResponse {
  readonly status: number;
  readonly headers: Array<[string, Uint8Array]>;
  readonly body: Uint8Array;
}

/** An outbound request of the guest, complete (what `send` performs). */
export interface OutboundRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Array<[string, Uint8Array]>;
  readonly body: Uint8Array;
  /** Milliseconds, from the guest's request options (absent: the host's limits). */
  readonly timeoutMs?: number;
}

/** How an outbound request failed, as a `wasi:http/types.error-code` (`{tag: 'HTTP-request-denied'}`, ...). */
export interface ErrorCode {
  readonly tag: string;
  readonly val?: unknown;
}

/**
 * Performs an outbound request: the bridge's `http.send`. Throws (or, answering a promise, rejects with) the
 * bridge's error when it is refused or fails (`errorCodeOf` reads it). A sync workload worker's blocks; an async
 * one's answers a promise (`waits.async`).
 */
export type Send = (req: OutboundRequest) => WorkloadResponse | Promise<WorkloadResponse>;

const METHODS = new Set(['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch']);
/** A field name: an HTTP token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const utf8 = new TextEncoder();

function methodVariant(method: string): { tag: string; val?: string } {
  const m = method.toLowerCase();
  return METHODS.has(m) && method === method.toUpperCase() ? { tag: m } : { tag: 'other', val: method };
}

function methodName(v: { tag: string; val?: string }): string {
  return v.tag === 'other' ? String(v.val) : v.tag.toUpperCase();
}

function schemeVariant(scheme: string): { tag: string; val?: string } {
  const s = scheme.toLowerCase();
  return s === 'http' ? { tag: 'HTTP' } : s === 'https' ? { tag: 'HTTPS' } : { tag: 'other', val: scheme };
}

function schemeName(v: { tag: string; val?: string } | undefined): string {
  if (!v) return 'http';
  return v.tag === 'HTTP' ? 'http' : v.tag === 'HTTPS' ? 'https' : String(v.val);
}

function headerError(tag: 'invalid-syntax' | 'forbidden' | 'immutable'): { tag: string } {
  return { tag };
}

/** `fields`: header names are kept lower-case; values are bytes. */
export class Fields {
  #entries: Array<[string, Uint8Array]> = [];
  #immutable = false;

  static fromList(entries: ReadonlyArray<readonly [string, Uint8Array]>): Fields {
    const f = new Fields();
    for (const [name, value] of entries) {
      if (!TOKEN.test(name)) throw headerError('invalid-syntax');
      f.#entries.push([name.toLowerCase(), value]);
    }
    return f;
  }

  /** Fields the guest may not change (a request's or a response's headers it received). */
  static frozen(entries: ReadonlyArray<readonly [string, Uint8Array]>): Fields {
    const f = new Fields();
    f.#entries = entries.map(([n, v]) => [n.toLowerCase(), v]);
    f.#immutable = true;
    return f;
  }

  #mutable(name: string): string {
    if (this.#immutable) throw headerError('immutable');
    if (!TOKEN.test(name)) throw headerError('invalid-syntax');
    return name.toLowerCase();
  }

  get(name: string): Uint8Array[] {
    const n = name.toLowerCase();
    return this.#entries.filter(([k]) => k === n).map(([, v]) => v);
  }
  has(name: string): boolean {
    const n = name.toLowerCase();
    return this.#entries.some(([k]) => k === n);
  }
  set(name: string, values: Uint8Array[]): void {
    const n = this.#mutable(name);
    this.#entries = this.#entries.filter(([k]) => k !== n);
    for (const v of values) this.#entries.push([n, v]);
  }
  delete(name: string): void {
    const n = this.#mutable(name);
    this.#entries = this.#entries.filter(([k]) => k !== n);
  }
  append(name: string, value: Uint8Array): void {
    this.#entries.push([this.#mutable(name), value]);
  }
  entries(): Array<[string, Uint8Array]> {
    return this.#entries.map(([k, v]) => [k, v]);
  }
  clone(): Fields {
    return Fields.fromList(this.#entries);
  }
}

/** `future-trailers`: there are never trailers. */
export class FutureTrailers {
  subscribe(): Pollable {
    return new Pollable();
  }
  get(): unknown {
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }
}

/** `incoming-body`: bytes in memory, read once through its stream. */
export class IncomingBody {
  #taken = false;
  constructor(private readonly bytes: Uint8Array) {}
  stream(): InputStream {
    if (this.#taken) throw undefined;
    this.#taken = true;
    return new InputStream(this.bytes);
  }
  static finish(_body: IncomingBody): FutureTrailers {
    return new FutureTrailers();
  }
}

/** `incoming-request`: the request being served. */
export class IncomingRequest {
  #consumed = false;
  /** Made when the guest first asks (many never do). */
  #headers?: Fields;
  constructor(private readonly req: WorkloadRequest) {}
  method(): { tag: string; val?: string } {
    return methodVariant(this.req.method);
  }
  pathWithQuery(): string {
    return this.req.pathWithQuery;
  }
  scheme(): { tag: string; val?: string } {
    return schemeVariant(this.req.scheme);
  }
  authority(): string {
    return this.req.authority;
  }
  headers(): Fields {
    this.#headers ??= Fields.frozen(this.req.headers.map(([n, v]) => [n, typeof v === 'string' ? utf8.encode(v) : v]));
    return this.#headers;
  }
  consume(): IncomingBody {
    if (this.#consumed) throw undefined;
    this.#consumed = true;
    return new IncomingBody(this.req.body);
  }
}

/** A body being written (a response's or an outgoing request's), at most `limit` bytes. */
class BodyBuffer implements ByteSink {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}
  write(bytes: Uint8Array): void {
    if (this.size + bytes.length > this.limit) throw new Error(`${this.what} is over its limit of ${this.limit} bytes`);
    this.chunks.push(bytes.slice());
    this.size += bytes.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** `outgoing-body`: written through one output stream, then finished. */
export class OutgoingBody {
  #stream?: OutputStream;
  finished = false;
  constructor(readonly buffer: BodyBuffer) {}
  write(): OutputStream {
    if (this.#stream) throw undefined;
    this.#stream = new OutputStream(this.buffer);
    return this.#stream;
  }
  static finish(body: OutgoingBody, _trailers?: Fields): void {
    body.finished = true;
    body.#stream?.close();
  }
}

/** `outgoing-response`: status, headers and a body. */
export class OutgoingResponse {
  #status = 200;
  #body?: OutgoingBody;
  constructor(readonly fields: Fields) {}
  statusCode(): number {
    return this.#status;
  }
  setStatusCode(code: number): void {
    if (!Number.isInteger(code) || code < 100 || code > 599) throw undefined;
    this.#status = code;
  }
  headers(): Fields {
    return this.fields;
  }
  body(): OutgoingBody {
    if (this.#body) throw undefined;
    this.#body = new OutgoingBody(new BodyBuffer(limits.responseBodyBytes, 'the response body'));
    return this.#body;
  }
  /** The body written so far (empty if the guest took none). */
  get writtenBody(): Uint8Array {
    return this.#body?.buffer.bytes() ?? new Uint8Array(0);
  }
}

/** `response-outparam`: where the guest sets its response, once. */
export class ResponseOutparam {
  response?: { tag: 'ok'; val: OutgoingResponse } | { tag: 'err'; val: ErrorCode };
  static set(param: ResponseOutparam, response: { tag: 'ok'; val: OutgoingResponse } | { tag: 'err'; val: ErrorCode }): void {
    if (param.response) throw new Error('response-outparam.set called twice');
    param.response = response;
  }
}

/** `request-options`: timeouts in nanoseconds. */
export class RequestOptions {
  #connect?: bigint;
  #firstByte?: bigint;
  #betweenBytes?: bigint;
  connectTimeout(): bigint | undefined {
    return this.#connect;
  }
  setConnectTimeout(d?: bigint): void {
    this.#connect = d;
  }
  firstByteTimeout(): bigint | undefined {
    return this.#firstByte;
  }
  setFirstByteTimeout(d?: bigint): void {
    this.#firstByte = d;
  }
  betweenBytesTimeout(): bigint | undefined {
    return this.#betweenBytes;
  }
  setBetweenBytesTimeout(d?: bigint): void {
    this.#betweenBytes = d;
  }
}

/** `outgoing-request`: built by the guest, sent by `outgoing-handler.handle`. */
export class OutgoingRequest {
  #method: { tag: string; val?: string } = { tag: 'get' };
  #pathWithQuery?: string;
  #scheme?: { tag: string; val?: string };
  #authority?: string;
  #body?: OutgoingBody;
  constructor(readonly fields: Fields) {}
  body(): OutgoingBody {
    if (this.#body) throw undefined;
    this.#body = new OutgoingBody(new BodyBuffer(limits.outboundBodyBytes, 'an outbound request body'));
    return this.#body;
  }
  method(): { tag: string; val?: string } {
    return this.#method;
  }
  setMethod(m: { tag: string; val?: string }): void {
    this.#method = m;
  }
  pathWithQuery(): string | undefined {
    return this.#pathWithQuery;
  }
  setPathWithQuery(p?: string): void {
    this.#pathWithQuery = p;
  }
  scheme(): { tag: string; val?: string } | undefined {
    return this.#scheme;
  }
  setScheme(s?: { tag: string; val?: string }): void {
    this.#scheme = s;
  }
  authority(): string | undefined {
    return this.#authority;
  }
  setAuthority(a?: string): void {
    this.#authority = a;
  }
  headers(): Fields {
    return this.fields;
  }
  /** The request as `send` takes it. */
  toOutbound(options?: RequestOptions): OutboundRequest {
    const ns = options?.firstByteTimeout() ?? options?.connectTimeout();
    return {
      method: methodName(this.#method),
      url: `${schemeName(this.#scheme)}://${this.#authority ?? ''}${this.#pathWithQuery ?? '/'}`,
      headers: this.fields.entries(),
      body: this.#body?.buffer.bytes() ?? new Uint8Array(0),
      timeoutMs: ns === undefined ? undefined : Number(ns / 1_000_000n),
    };
  }
}

/** `incoming-response`: an outbound request's answer, read in full. */
export class IncomingResponse {
  #consumed = false;
  readonly #headers: Fields;
  constructor(private readonly res: WorkloadResponse) {
    this.#headers = Fields.frozen(res.headers);
  }
  status(): number {
    return this.res.status;
  }
  headers(): Fields {
    return this.#headers;
  }
  consume(): IncomingBody {
    if (this.#consumed) throw undefined;
    this.#consumed = true;
    return new IncomingBody(this.res.body);
  }
}

/** The pollable of an outbound response: the request is sent when it is first asked; ready when the answer is in. */
class SendingPollable extends Pollable {
  constructor(private readonly future: FutureIncomingResponse) {
    super();
  }
  override ready(): boolean {
    return this.future.ready();
  }
  override block(): void | Promise<void> {
    return this.future.wait();
  }
  override wait(): Promise<void> | undefined {
    return this.future.wait();
  }
}

/**
 * `future-incoming-response`. The request goes on the first `get`, readiness check or wait, once the guest has
 * written its body (as it must before it asks). In a sync worker that send blocks and the future is then ready;
 * in an async one (`waits.async`) it is in flight until the host answers, `get` answers `none` meanwhile, and
 * the guest waits on the pollable (`block` or `poll`). A guest that spins on `get` or `ready` without waiting
 * never sees the answer there: nothing else runs on its thread while it spins.
 */
export class FutureIncomingResponse {
  #outcome?: { tag: 'ok'; val: IncomingResponse } | { tag: 'err'; val: ErrorCode };
  #inflight?: Promise<void>;
  #taken = false;
  constructor(private readonly perform: () => WorkloadResponse | Promise<WorkloadResponse>) {}
  #send(): void {
    if (this.#outcome || this.#inflight) return;
    const done = (res: WorkloadResponse) => {
      this.#outcome = { tag: 'ok', val: new IncomingResponse(res) };
    };
    const failed = (err: unknown) => {
      this.#outcome = { tag: 'err', val: errorCodeOf(err) };
    };
    if (waits.async) {
      this.#inflight = Promise.resolve().then(this.perform).then(done, failed);
      return;
    }
    try {
      done(this.perform() as WorkloadResponse);
    } catch (err) {
      failed(err);
    }
  }
  /** Whether the answer is in (the request is sent first if it has not been). */
  ready(): boolean {
    this.#send();
    return this.#outcome !== undefined;
  }
  /** Settles when the answer is in; undefined when it is (always so in a sync worker). */
  wait(): Promise<void> | undefined {
    this.#send();
    return this.#outcome ? undefined : this.#inflight;
  }
  subscribe(): Pollable {
    return new SendingPollable(this);
  }
  get(): unknown {
    this.#send();
    if (!this.#outcome) return undefined; // not ready yet
    if (this.#taken) return { tag: 'err', val: undefined };
    this.#taken = true;
    return { tag: 'ok', val: this.#outcome };
  }
}

/**
 * The wasi:http error-code of a failed send: the host answers a refused or failed `http.send` in that shape (the
 * bridge error's `payload`; an error-code thrown as such stays); a bridge failure (`unavailable`, `other`) or
 * anything else becomes `internal-error` with its message.
 */
function errorCodeOf(err: unknown): ErrorCode {
  if (err && typeof err === 'object' && 'tag' in err) return err as ErrorCode;
  const p = (err as { payload?: { tag?: string; val?: unknown } })?.payload;
  if (p && typeof p.tag === 'string' && p.tag !== 'unavailable' && p.tag !== 'other') return p as ErrorCode;
  return { tag: 'internal-error', val: err instanceof Error ? err.message : String(err) };
}

/** Bounds on what one request may produce, set by the host (`workloads/limits.ts` has the values). */
export const limits = { responseBodyBytes: 16 * 1024 * 1024, outboundBodyBytes: 16 * 1024 * 1024 };

/** The `wasi:http/types` and `wasi:http/outgoing-handler` imports of one workload instance. */
export function httpImports(send: Send): Record<string, unknown> {
  return {
    'wasi:http/types': {
      Fields,
      FutureIncomingResponse,
      FutureTrailers,
      IncomingBody,
      IncomingRequest,
      IncomingResponse,
      OutgoingBody,
      OutgoingRequest,
      OutgoingResponse,
      RequestOptions,
      ResponseOutparam,
      httpErrorCode: (_err: IoError) => undefined,
      // A guest built with the stream resources inside this interface (see test/fixtures/workloads/quickjs-http).
      InputStream,
      OutputStream,
      Pollable,
      IoError,
    },
    'wasi:http/outgoing-handler': {
      handle(request: OutgoingRequest, options?: RequestOptions): FutureIncomingResponse {
        return new FutureIncomingResponse(() => send(request.toOutbound(options)));
      },
    },
  };
}

/** Builds the guest-facing pair for `req`; `read` answers what the guest set once `handle` returned. */
export function requestPair(req: WorkloadRequest): {
  request: IncomingRequest;
  outparam: ResponseOutparam;
  read: () => WorkloadResponse | { error: string };
} {
  const request = new IncomingRequest(req);
  const outparam = new ResponseOutparam();
  return {
    request,
    outparam,
    read: () => {
      const r = outparam.response;
      if (!r) return { error: 'the guest set no response' };
      if (r.tag === 'err') return { error: `the guest answered error-code ${r.val?.tag ?? '?'}` };
      return { status: r.val.statusCode(), headers: r.val.fields.entries(), body: r.val.writtenBody };
    },
  };
}
