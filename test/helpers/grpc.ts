/**
 * A raw gRPC client of the sidecar, for what the SDK's DaprClient does not expose (health, trailers, methods it
 * has no wrapper for): @grpc/grpc-js with the SDK's own .proto files (as `npm run build` copied them into
 * dist/proto, parsed here from the .proto text, independently of the host's JSON descriptor), and a decoder of
 * `grpc-status-details-bin` written from the google.rpc protos, independently of the host's encoder.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Client, type ClientDuplexStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT } from './sidecar.js';

const pkg = loadSync('dapr/proto/runtime/v1/dapr.proto', {
  includeDirs: [join(ROOT, 'dist/proto')],
  longs: Number,
  enums: String,
  defaults: true,
});
// biome-ignore lint/suspicious/noExplicitAny: the method definitions are typed by the protos at run time
const dapr = pkg['dapr.proto.runtime.v1.Dapr'] as Record<string, any>;

/** The protobufjs that @grpc/proto-loader uses, for decoding the google.rpc messages the SDK does not ship. */
const protobuf = createRequire(fileURLToPath(import.meta.resolve('@grpc/proto-loader')))('protobufjs');
const rpc = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Any { string type_url = 1; bytes value = 2; }
  message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
  // grpc.health.v1.HealthCheckResponse, declared here for its wire format only (the enum as its number).
  message HealthCheckResponse { int32 status = 1; }
`).root;

export interface DecodedStatus {
  code: number;
  message: string;
  details: Array<{ typeUrl: string; errorInfo?: { reason: string; domain: string; metadata: Record<string, string> } }>;
}

/** Decodes a `google.rpc.Status` (the `grpc-status-details-bin` trailer), ErrorInfo details included. */
export function decodeStatus(bytes: Uint8Array): DecodedStatus {
  const s = rpc.lookupType('google.rpc.Status').toObject(rpc.lookupType('google.rpc.Status').decode(bytes), { defaults: true });
  return {
    code: s.code,
    message: s.message,
    details: (s.details as Array<{ typeUrl: string; value: Uint8Array }>).map((d) => ({
      typeUrl: d.typeUrl,
      errorInfo:
        d.typeUrl === 'type.googleapis.com/google.rpc.ErrorInfo'
          ? rpc.lookupType('google.rpc.ErrorInfo').toObject(rpc.lookupType('google.rpc.ErrorInfo').decode(d.value), { defaults: true })
          : undefined,
    })),
  };
}

/** A raw client of the sidecar's gRPC API. */
export class RawGrpc {
  readonly #client: Client;
  constructor(port: number, host = '127.0.0.1') {
    this.#client = new Client(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials.createInsecure());
  }

  /** Calls a unary method of `dapr.proto.runtime.v1.Dapr` by name; `token` goes in `dapr-api-token`. */
  call<T = Record<string, unknown>>(method: string, request: unknown, token?: string): Promise<T> {
    const def = dapr[method];
    if (!def) throw new Error(`no method ${method}`);
    const md = new Metadata();
    if (token !== undefined) md.set('dapr-api-token', token);
    return new Promise((resolve, reject) =>
      this.#client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, md, (err, res) =>
        err ? reject(err) : resolve(res as T),
      ),
    );
  }

  /** Calls a unary method with `bytes` as the request message, as they are (to send what no encoder would). */
  callBytes(method: string, bytes: Buffer, token?: string): Promise<unknown> {
    const def = dapr[method];
    const md = new Metadata();
    if (token !== undefined) md.set('dapr-api-token', token);
    return new Promise((resolve, reject) =>
      this.#client.makeUnaryRequest(
        def.path,
        (b: Buffer) => b,
        def.responseDeserialize,
        bytes,
        md,
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
  }

  /** Opens a bidirectional stream of a method (to see how it is refused) and resolves with how it ended. */
  bidi(method: string, token?: string): Promise<ServiceError> {
    const def = dapr[method];
    const md = new Metadata();
    if (token !== undefined) md.set('dapr-api-token', token);
    return new Promise((resolve) => {
      const call = this.#client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, md);
      call.on('error', (err: ServiceError) => resolve(err));
      call.on('data', () => undefined);
    });
  }

  /**
   * Opens `SubscribeTopicEventsAlpha1` and sends `initial` as its initial request (nothing is sent when it is
   * undefined: the caller sends its own first message with `send`).
   */
  subscribe(initial?: { pubsubName: string; topic: string; metadata?: Record<string, string>; deadLetterTopic?: string }, token?: string): TopicStream {
    const def = dapr.SubscribeTopicEventsAlpha1;
    const md = new Metadata();
    if (token !== undefined) md.set('dapr-api-token', token);
    const call = this.#client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, md);
    const s = new TopicStream(call);
    if (initial) s.send({ initialRequest: initial });
    return s;
  }

  /** `grpc.health.v1.Health/Check` of `service` (empty: the server); resolves with the serving status number. */
  health(service = ''): Promise<number> {
    const req = Buffer.from(service === '' ? [] : [0x0a, Buffer.byteLength(service), ...Buffer.from(service)]);
    const type = rpc.lookupType('google.rpc.HealthCheckResponse');
    return new Promise((resolve, reject) =>
      this.#client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (b: Buffer) => b,
        (b: Buffer) => type.toObject(type.decode(b), { defaults: true }).status as number,
        req,
        new Metadata(),
        (err, res) => (err ? reject(err) : resolve(res as number)),
      ),
    );
  }

  close(): void {
    this.#client.close();
  }
}

/** The rich status of a failed call, from its `grpc-status-details-bin` trailer. */
export function richStatus(err: ServiceError): DecodedStatus {
  const bin = err.metadata?.get('grpc-status-details-bin')[0];
  if (!bin) throw new Error(`no grpc-status-details-bin in ${err.code} ${err.details}`);
  return decodeStatus(bin as Buffer);
}

/** A `TopicEventRequest` as the stream's client receives it (enums as their names, as this client decodes them). */
export interface StreamEvent {
  id: string;
  source: string;
  type: string;
  specVersion: string;
  dataContentType: string;
  data: Buffer;
  topic: string;
  pubsubName: string;
  path: string;
  extensions: unknown;
}

/**
 * The client side of one `SubscribeTopicEventsAlpha1` stream: what arrived (the initial response, the events),
 * how it ended, and the answers to send.
 */
export class TopicStream {
  /** Resolves when the initial response arrives; rejects if the stream ends first. */
  readonly ready: Promise<void>;
  /** Resolves with the error the stream ended with (undefined: ended OK). */
  readonly ended: Promise<ServiceError | undefined>;
  #onEvent?: (ev: StreamEvent) => void;
  readonly #queue: StreamEvent[] = [];
  #initial = false;

  constructor(readonly call: ClientDuplexStream<unknown, unknown>) {
    let ready!: () => void;
    let notReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      ready = res;
      notReady = rej;
    });
    this.ready.catch(() => undefined);
    this.ended = new Promise((resolve) => {
      call.on('error', (err: ServiceError) => {
        notReady(err);
        resolve(err);
      });
      call.on('status', (st: { code: number }) => {
        if (st.code === 0) {
          notReady(new Error('stream ended before its initial response'));
          resolve(undefined);
        }
      });
    });
    call.on('data', (m: Record<string, unknown>) => {
      if (m.initialResponse) {
        this.#initial = true;
        ready();
        return;
      }
      const ev = m.eventMessage as StreamEvent | undefined;
      if (!ev) return;
      if (this.#onEvent) this.#onEvent(ev);
      else this.#queue.push(ev);
    });
  }

  /** Whether the initial response came. */
  get subscribed(): boolean {
    return this.#initial;
  }

  /** Handles every event (those already queued first). */
  onEvent(f: (ev: StreamEvent) => void): void {
    this.#onEvent = f;
    for (const ev of this.#queue.splice(0)) f(ev);
  }

  /** Resolves with the next event. */
  next(timeoutMs = 10_000): Promise<StreamEvent> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onEvent = undefined;
        reject(new Error(`no event within ${timeoutMs}ms`));
      }, timeoutMs);
      this.#onEvent = (ev) => {
        clearTimeout(timer);
        this.#onEvent = undefined;
        resolve(ev);
      };
    });
  }

  /** Sends one request message (`{initialRequest}` or `{eventProcessed}`). */
  send(message: Record<string, unknown>): void {
    this.call.write(message);
  }

  /** Answers event `id` with `status`. */
  answer(id: string, status: 'SUCCESS' | 'RETRY' | 'DROP'): void {
    this.send({ eventProcessed: { id, status: { status } } });
  }

  /** Cancels the stream (as a client that goes away). */
  cancel(): void {
    this.call.cancel();
  }

  /** Half-closes the stream (the client sends nothing more). */
  end(): void {
    this.call.end();
  }
}
