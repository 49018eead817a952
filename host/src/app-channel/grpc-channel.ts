/**
 * The gRPC channel from the sidecar to the app (`--app-protocol grpc`; daprd `pkg/channel/grpc` and
 * `pkg/runtime/subscription/postman/grpc`): it calls the app's `dapr.proto.runtime.v1.AppCallback` with
 * @grpc/grpc-js, and implements the same `AppTarget` as the HTTP channel, so the pub/sub delivery loop and
 * the input-binding loop run unchanged. It translates their HTTP-shaped calls:
 *
 * - `POST <route>` with a `pubsubname` header and a CloudEvent body: `OnTopicEvent`, the CloudEvent's fields
 *   mapped into `TopicEventRequest` as daprd does; SUCCESS answers 200, RETRY and DROP answer 200 with the
 *   same `{"status": ...}` body an HTTP app sends, `Unimplemented` answers 404 (drop), any other error
 *   rejects (retry).
 * - `POST <route>` with a `pubsubname` header and a bulk body (`application/json`, built by the delivery
 *   loop as for an HTTP app): `OnBulkTopicEvent`, or `AppCallbackAlpha.OnBulkTopicEventAlpha1` when the app
 *   answers `Unimplemented` (the method the app serves is remembered); each entry's CloudEvent becomes a
 *   `TopicEventCERequest`, a raw payload entry its bytes. The per-entry statuses answer 200 with the
 *   `{"statuses": [...]}` body an HTTP app sends (an entry the app left out, or with an unknown status, is
 *   left out: RETRY); `Unimplemented` from both methods answers 404 (every entry dropped), any other error
 *   rejects (every entry retried), as daprd's gRPC postman.
 * - `OPTIONS /<binding>` (the input-binding probe; `bindingsByName` makes the loops use the name, not `route`): `ListInputBindings`; 200 if the binding is listed, else 404.
 * - any other `POST /<binding>`: `OnBindingEvent`; only a successful call answers 200 (acks), with the
 *   answer's `to` / `data` / `concurrency` (and `store_name` / `states`, which daprd no longer saves) as
 *   `AppAnswer.binding` for the input-binding loop.
 *
 * `listSubscriptions` is `ListTopicSubscriptions` for the lifecycle, `healthCheck` is
 * `AppCallbackHealthCheck.HealthCheck`. Every call carries the app token as `dapr-api-token` metadata;
 * message metadata travels as gRPC metadata.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcCodeOf, type AppAnswer, type AppTarget, type BindingAppAnswer } from '../blocks/app-target.js';
import { fromAppResponse, type Subscription } from '../blocks/pubsub/subscription.js';
import { DAPR_PACKAGE, methodCodec, packageServices, serviceMethods } from '../dapr-proto.js';
import type { AppChannelOptions } from './http-channel.js';
import { HealthGate } from './health-gate.js';
import { cloudEventFields, topicEventRequest } from './topic-event-request.js';

export { topicEventRequest };

/** TopicEventResponse.TopicEventResponseStatus. */
const SUCCESS = 0;
const RETRY = 1;
const DROP = 2;
/** BindingEventResponse.BindingEventConcurrency. */
const PARALLEL = 1;
/** The bulk methods, in the order daprd tries them (`postman/grpc DeliverBulk`). */
const BULK_METHODS = [
  { service: 'callback', method: 'OnBulkTopicEvent' },
  { service: 'alpha', method: 'OnBulkTopicEventAlpha1' },
] as const;
type BulkMethod = (typeof BULK_METHODS)[number];
const STATUS_NAMES: Record<number, string> = { [SUCCESS]: 'SUCCESS', [RETRY]: 'RETRY', [DROP]: 'DROP' };

/** Headers the channel never sends as metadata (framing, and the token, which it sets itself). */
const SKIP_METADATA = new Set(['content-length', 'transfer-encoding', 'connection', 'host', 'te', 'dapr-api-token', 'content-type']);
const METADATA_KEY = /^[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

type Callback = (err: grpc.ServiceError | null, res?: unknown) => void;
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => void;
type Client = grpc.Client & Record<string, Unary>;

interface RawSubscription {
  pubsubName: string;
  topic: string;
  metadata: Record<string, string>;
  routes: { rules: Array<{ match: string; path: string }>; default: string } | null;
  deadLetterTopic: string;
  bulkSubscribe: { enabled: boolean; maxMessagesCount: number; maxAwaitDurationMs: number } | null;
}

/** `BindingEventResponse` as decoded (the `states` are not read: see `BindingAppAnswer.states`). */
interface RawBindingResponse {
  storeName: string;
  states: unknown[];
  to: string[];
  data: Buffer;
  concurrency: number;
}

/** The fields of an app's `BindingEventResponse` the input-binding loop acts on; undefined when it asked nothing. */
function bindingAnswer(res: RawBindingResponse | undefined): BindingAppAnswer | undefined {
  if (!res || (res.to.length === 0 && res.states.length === 0)) return undefined;
  return {
    to: res.to,
    data: res.data,
    concurrency: res.concurrency === PARALLEL ? 'parallel' : 'sequential',
    storeName: res.storeName,
    states: res.states.length,
  };
}

/** One entry of the bulk body the delivery loop builds (`deliverBulk`), as an HTTP app gets it. */
interface BulkEntry {
  entryId: string;
  /** The CloudEvent, or for a raw payload subscription the message's bytes in base64. */
  event: Record<string, unknown> | string;
  metadata?: Record<string, string>;
  contentType?: string;
}

/**
 * The delivery loop's bulk body as daprd's `TopicEventBulkRequest` (postman/grpc `DeliverBulk`, `FetchEntry`):
 * a raw payload entry carries its bytes, any other its CloudEvent as a `TopicEventCERequest`.
 */
export function topicEventBulkRequest(body: Record<string, unknown>, topic: string, pubsubName: string, path: string): Record<string, unknown> {
  const entries = (Array.isArray(body.entries) ? (body.entries as BulkEntry[]) : []).map((e) => ({
    entryId: e.entryId,
    ...(typeof e.event === 'string' ? { bytes: Buffer.from(e.event, 'base64') } : { cloudEvent: cloudEventFields(e.event) }),
    contentType: e.contentType ?? '',
    metadata: e.metadata ?? {},
  }));
  return {
    id: str(body.id),
    entries,
    metadata: (body.metadata as Record<string, string> | undefined) ?? {},
    topic,
    pubsubName,
    type: str(body.type),
    path,
  };
}

let clients: Record<string, grpc.ServiceClientConstructor> | undefined;
/**
 * The app's services (every service of `dapr.proto.runtime.v1`, by short name), built on first use from the
 * process's one reading of the Dapr protos (`dapr-proto.ts`); each method's message codecs are built on its
 * first call, so a sidecar whose app speaks HTTP loads none of it.
 */
function services(): Record<string, grpc.ServiceClientConstructor> {
  if (!clients) {
    clients = {};
    for (const service of packageServices(DAPR_PACKAGE)) {
      const methods: Record<string, unknown> = {};
      for (const { name, requestStream, responseStream } of serviceMethods(service)) {
        let c: ReturnType<typeof methodCodec> | undefined;
        const codec = () => (c ??= methodCodec(service, name));
        methods[name] = {
          path: `/${service}/${name}`,
          requestStream,
          responseStream,
          requestSerialize: (m: unknown) => codec().encodeRequest(m),
          requestDeserialize: (b: Buffer) => codec().decodeRequest(b),
          responseSerialize: (m: unknown) => codec().encodeResponse(m),
          responseDeserialize: (b: Buffer) => codec().decodeResponse(b),
          originalName: `${name[0]!.toLowerCase()}${name.slice(1)}`,
        };
      }
      clients[service.slice(DAPR_PACKAGE.length + 1)] = grpc.makeGenericClientConstructor(methods as grpc.ServiceDefinition, service);
    }
  }
  return clients;
}

/** The sidecar's gRPC channel to the app; see the module comment. */
export class GrpcAppChannel extends HealthGate implements AppTarget {
  /** `OnBindingEvent` names the binding; its `route` metadata is for HTTP only. */
  readonly bindingsByName = true;
  readonly #callback: Client;
  readonly #alpha: Client;
  readonly #health: Client;
  /** The bulk method the app last served (undefined until one answered other than `Unimplemented`). */
  #bulkMethod?: BulkMethod;
  /** Route paths the app gave without the leading `/` the subscription parser adds (sent back as given). */
  readonly #bare = new Set<string>();

  constructor(readonly opts: AppChannelOptions) {
    super();
    const s = services();
    const address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.#callback = new s.AppCallback!(address, grpc.credentials.createInsecure()) as unknown as Client;
    const shared = { channelOverride: this.#callback.getChannel() };
    this.#alpha = new s.AppCallbackAlpha!(address, grpc.credentials.createInsecure(), shared) as unknown as Client;
    this.#health = new s.AppCallbackHealthCheck!(address, grpc.credentials.createInsecure(), shared) as unknown as Client;
  }

  #metadata(headers?: Record<string, string>): grpc.Metadata {
    const md = new grpc.Metadata();
    if (headers) {
      for (const [k, v] of Object.entries(headers)) {
        const key = k.toLowerCase();
        if (SKIP_METADATA.has(key) || key.startsWith('grpc-') || key.endsWith('-bin') || !METADATA_KEY.test(key) || !METADATA_VALUE.test(v)) continue;
        md.set(key, v);
      }
    }
    if (this.opts.appToken) md.set('dapr-api-token', this.opts.appToken);
    return md;
  }

  #call<T>(client: Client, method: string, req: unknown, timeoutMs: number, headers?: Record<string, string>): Promise<T> {
    return new Promise((resolve, reject) => {
      client[method]!(req, this.#metadata(headers), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  /** Calls the app (see the module comment for the translation); rejects on errors that mean retry. */
  async request(
    method: string,
    path: string,
    body: Buffer | undefined,
    headers: Record<string, string>,
    timeoutMs: number,
    delivery?: { readonly topic: string },
  ): Promise<AppAnswer> {
    const name = path.startsWith('/') ? path.slice(1) : path;
    if (method === 'OPTIONS') {
      try {
        const res = await this.#call<{ bindings: string[] }>(this.#callback, 'ListInputBindings', {}, timeoutMs);
        return { status: res.bindings.includes(name) ? 200 : 404, body: Buffer.alloc(0) };
      } catch (err) {
        if (grpcCodeOf(err) === grpc.status.UNIMPLEMENTED) return { status: 404, body: Buffer.alloc(0) };
        throw err;
      }
    }
    const pubsubname = headers.pubsubname;
    if (pubsubname !== undefined) {
      const parsed = JSON.parse((body ?? Buffer.alloc(0)).toString('utf8')) as Record<string, unknown>;
      const routePath = this.#bare.has(path) ? name : path;
      if (!(headers['content-type'] ?? '').startsWith('application/cloudevents')) {
        return this.#deliverBulk(topicEventBulkRequest(parsed, delivery?.topic ?? str(parsed.topic), pubsubname, routePath), timeoutMs, headers);
      }
      const event = parsed;
      const req = topicEventRequest(event, delivery?.topic ?? str(event.topic), pubsubname, routePath);
      let res: { status: number };
      try {
        res = await this.#call(this.#callback, 'OnTopicEvent', req, timeoutMs, headers);
      } catch (err) {
        if (grpcCodeOf(err) === grpc.status.UNIMPLEMENTED) return { status: 404, body: Buffer.alloc(0) };
        throw err;
      }
      if (res.status === SUCCESS) return { status: 200, body: Buffer.alloc(0) };
      if (res.status === DROP) return { status: 200, body: Buffer.from('{"status":"DROP"}') };
      if (res.status === RETRY) return { status: 200, body: Buffer.from('{"status":"RETRY"}') };
      throw new Error(`unknown status ${res.status} returned from the app while processing a pub/sub event`);
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k !== 'content-type') metadata[k] = v;
    const res = await this.#call<RawBindingResponse>(this.#callback, 'OnBindingEvent', { name, data: body ?? Buffer.alloc(0), metadata }, timeoutMs, headers);
    return { status: 200, body: Buffer.alloc(0), binding: bindingAnswer(res) };
  }

  /**
   * A bulk delivery: the bulk method the app serves (see the module comment), its statuses as the body of an
   * HTTP app's answer. An error other than `Unimplemented` rejects (every entry is retried).
   */
  async #deliverBulk(req: Record<string, unknown>, timeoutMs: number, headers: Record<string, string>): Promise<AppAnswer> {
    const order = this.#bulkMethod === undefined ? BULK_METHODS : [this.#bulkMethod, ...BULK_METHODS.filter((m) => m !== this.#bulkMethod)];
    for (const m of order) {
      let res: { statuses: Array<{ entryId: string; status: number }> };
      try {
        res = await this.#call(m.service === 'alpha' ? this.#alpha : this.#callback, m.method, req, timeoutMs, headers);
      } catch (err) {
        if (grpcCodeOf(err) === grpc.status.UNIMPLEMENTED) continue;
        this.#bulkMethod = m;
        throw err;
      }
      this.#bulkMethod = m;
      // An unknown status is left out, as an entry the app did not answer: the delivery loop retries both.
      const statuses = res.statuses.filter((s) => STATUS_NAMES[s.status] !== undefined).map((s) => ({ entryId: s.entryId, status: STATUS_NAMES[s.status] }));
      return { status: 200, body: Buffer.from(JSON.stringify({ statuses })) };
    }
    return { status: 404, body: Buffer.alloc(0) };
  }

  /** `ListTopicSubscriptions` as subscriptions (`Unimplemented`: none); other errors reject. */
  async listSubscriptions(timeoutMs: number): Promise<{ subscriptions: Subscription[]; problems: string[] }> {
    let res: { subscriptions: RawSubscription[] };
    try {
      res = await this.#call(this.#callback, 'ListTopicSubscriptions', {}, timeoutMs);
    } catch (err) {
      if (grpcCodeOf(err) === grpc.status.UNIMPLEMENTED) return { subscriptions: [], problems: [] };
      throw err;
    }
    // The same shape as `/dapr/subscribe`, so the same parser (and its checks) applies.
    const json = res.subscriptions.map((s) => {
      for (const p of [s.routes?.default ?? '', ...(s.routes?.rules ?? []).map((r) => r.path)]) if (p !== '' && !p.startsWith('/')) this.#bare.add(`/${p}`);
      const routed = s.routes !== null && (s.routes.default !== '' || s.routes.rules.length > 0);
      if (!routed) this.#bare.add('/');
      return {
        pubsubname: s.pubsubName,
        topic: s.topic,
        metadata: s.metadata,
        // daprd: a subscription without routes gets the path "" (here "/", the parser's root).
        routes: routed ? s.routes : { default: '/' },
        deadLetterTopic: s.deadLetterTopic,
        bulkSubscribe: s.bulkSubscribe ?? undefined,
      };
    });
    return fromAppResponse(json);
  }

  /** `AppCallbackHealthCheck.HealthCheck`: true when the call succeeds. */
  async healthCheck(timeoutMs: number): Promise<boolean> {
    await this.#call(this.#health, 'HealthCheck', {}, timeoutMs);
    return true;
  }

  close(): void {
    this.#health.close();
    this.#alpha.close();
    this.#callback.close();
  }
}
