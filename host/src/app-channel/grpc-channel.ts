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
 * - `OPTIONS /<binding>` (the input-binding probe; `bindingsByName` makes the loops use the name, not `route`): `ListInputBindings`; 200 if the binding is listed, else 404.
 * - any other `POST /<binding>`: `OnBindingEvent`; only a successful call answers 200 (acks).
 *
 * `listSubscriptions` is `ListTopicSubscriptions` for the lifecycle, `healthCheck` is
 * `AppCallbackHealthCheck.HealthCheck`. Every call carries the app token as `dapr-api-token` metadata;
 * message metadata travels as gRPC metadata.
 */
import * as grpc from '@grpc/grpc-js';
import type { AppAnswer, AppTarget } from '../blocks/app-target.js';
import { fromAppResponse, type Subscription } from '../blocks/pubsub/subscription.js';
import { DAPR_PACKAGE, methodCodec, packageServices, serviceMethods } from '../dapr-proto.js';
import type { AppChannelOptions, HealthSignal } from './http-channel.js';
import { topicEventRequest } from './topic-event-request.js';

export { topicEventRequest };

/** TopicEventResponse.TopicEventResponseStatus. */
const SUCCESS = 0;
const RETRY = 1;
const DROP = 2;

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

/** A gRPC error, or undefined for anything else. */
function codeOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
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
export class GrpcAppChannel implements AppTarget {
  /** `OnBindingEvent` names the binding; its `route` metadata is for HTTP only. */
  readonly bindingsByName = true;
  readonly #callback: Client;
  readonly #health: Client;
  #signal?: HealthSignal;
  /** Route paths the app gave without the leading `/` the subscription parser adds (sent back as given). */
  readonly #bare = new Set<string>();

  constructor(readonly opts: AppChannelOptions) {
    const s = services();
    const address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.#callback = new s.AppCallback!(address, grpc.credentials.createInsecure()) as unknown as Client;
    this.#health = new s.AppCallbackHealthCheck!(address, grpc.credentials.createInsecure(), {
      channelOverride: this.#callback.getChannel(),
    }) as unknown as Client;
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
        if (codeOf(err) === grpc.status.UNIMPLEMENTED) return { status: 404, body: Buffer.alloc(0) };
        throw err;
      }
    }
    const pubsubname = headers.pubsubname;
    if (pubsubname !== undefined) {
      if (!(headers['content-type'] ?? '').startsWith('application/cloudevents')) {
        throw new Error('bulk subscribe is not served over the gRPC app channel (OnBulkTopicEvent); the messages stay at the broker');
      }
      const event = JSON.parse((body ?? Buffer.alloc(0)).toString('utf8')) as Record<string, unknown>;
      const req = topicEventRequest(event, delivery?.topic ?? str(event.topic), pubsubname, this.#bare.has(path) ? name : path);
      let res: { status: number };
      try {
        res = await this.#call(this.#callback, 'OnTopicEvent', req, timeoutMs, headers);
      } catch (err) {
        if (codeOf(err) === grpc.status.UNIMPLEMENTED) return { status: 404, body: Buffer.alloc(0) };
        throw err;
      }
      if (res.status === SUCCESS) return { status: 200, body: Buffer.alloc(0) };
      if (res.status === DROP) return { status: 200, body: Buffer.from('{"status":"DROP"}') };
      if (res.status === RETRY) return { status: 200, body: Buffer.from('{"status":"RETRY"}') };
      throw new Error(`unknown status ${res.status} returned from the app while processing a pub/sub event`);
    }
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k !== 'content-type') metadata[k] = v;
    await this.#call(this.#callback, 'OnBindingEvent', { name, data: body ?? Buffer.alloc(0), metadata }, timeoutMs, headers);
    return { status: 200, body: Buffer.alloc(0) };
  }

  /** `ListTopicSubscriptions` as subscriptions (`Unimplemented`: none); other errors reject. */
  async listSubscriptions(timeoutMs: number): Promise<{ subscriptions: Subscription[]; problems: string[] }> {
    let res: { subscriptions: RawSubscription[] };
    try {
      res = await this.#call(this.#callback, 'ListTopicSubscriptions', {}, timeoutMs);
    } catch (err) {
      if (codeOf(err) === grpc.status.UNIMPLEMENTED) return { subscriptions: [], problems: [] };
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

  /** Follows the app's health checks from now on (set once, by the app lifecycle). */
  useHealth(health: HealthSignal): void {
    this.#signal = health;
  }

  /** True while the health checks are on and find the app unhealthy (as the HTTP channel). */
  paused(): boolean {
    return this.#signal !== undefined && !this.#signal.healthy();
  }

  close(): void {
    this.#health.close();
    this.#callback.close();
  }
}
