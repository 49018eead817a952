/**
 * `dapr.proto.runtime.v1.Dapr` (spec 2.1): translation only, as the HTTP routes are. Each served method
 * decodes its message (`codec.ts`), calls one universal API method and encodes the result; every other
 * method of the service answers UNIMPLEMENTED naming it. Every call first passes the API token check.
 */
import { timingSafeEqual } from 'node:crypto';
import type {
  Metadata,
  sendUnaryData,
  ServerDuplexStream,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { MortarError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Caller } from '../universal/caller.js';
import type { UniversalApi } from '../universal/universal-api.js';
import {
  bulkEntriesOf,
  bulkStateResponse,
  consistencyOf,
  deleteItemOf,
  getStateResponse,
  invokeBindingResponse,
  metadataResponse,
  saveItemOf,
  transactionOf,
  type BulkPublishEntryMessage,
  type StateItemMessage,
  type TransactionalOperationMessage,
} from './codec.js';
import { toServiceError } from './status.js';
import { DAPR_SERVICE, daprCodec, daprMethods } from './protos.js';
import { type OpenStreams, TopicEventsCall } from './topic-events.js';

export interface DaprServiceOptions {
  readonly api: UniversalApi;
  readonly logger: Logger;
  /** `DAPR_API_TOKEN`: when set, every call must carry it in the `dapr-api-token` metadata. */
  readonly apiToken?: string;
  /** Counts the calls being served, for a graceful stop. */
  readonly calls: CallsInFlight;
  /** The streaming subscriptions being served, which a stop ends (they are not among `calls`). */
  readonly streams: OpenStreams;
}

/**
 * The calls whose handler has not answered yet. A graceful stop waits for these for the whole grace period,
 * and for the rest only briefly (`server.ts`): grpc-js's own `tryShutdown` waits for every HTTP/2 stream a
 * client has not closed, such as one answered early (RESOURCE_EXHAUSTED for a message over the limit) while the
 * client still holds its half open.
 */
export class CallsInFlight {
  #n = 0;
  #idle: Array<() => void> = [];
  begin(): void {
    this.#n++;
  }
  end(): void {
    if (--this.#n === 0) for (const f of this.#idle.splice(0)) f();
  }
  /** Resolves when no call is being served. */
  idle(): Promise<void> {
    return this.#n === 0 ? Promise.resolve() : new Promise((r) => this.#idle.push(r));
  }
}

/** A decoded request message: the handlers read the fields `protos.ts` fills in. */
// biome-ignore lint/suspicious/noExplicitAny: messages are typed by the protos at run time, field by field below
type Message = any;
type Handler = (req: Message, md: Metadata) => unknown;

const first = (md: Metadata, key: string): string | undefined => {
  const v = md.get(key)[0];
  return v === undefined ? undefined : String(v);
};

/** The served methods, by name: decode, call, encode. */
function handlers(api: UniversalApi, caller: Caller): Record<string, Handler> {
  const bulkPublish: Handler = async (r) => {
    const res = await api.bulkPublishEvent(caller, {
      pubsub: r.pubsubName,
      topic: r.topic,
      entries: bulkEntriesOf(r.entries as BulkPublishEntryMessage[]),
      metadata: r.metadata,
    });
    return { failedEntries: res.failedEntries.map((f) => ({ entryId: f.entryId, error: f.error })) };
  };
  return {
    // State
    GetState: async (r) =>
      getStateResponse(await api.getState(caller, r.storeName, { key: r.key, consistency: consistencyOf(r.consistency), metadata: r.metadata })),
    GetBulkState: async (r) => bulkStateResponse(await api.getBulkState(caller, r.storeName, { keys: r.keys, metadata: r.metadata })),
    SaveState: async (r) => {
      await api.saveState(caller, r.storeName, (r.states as StateItemMessage[]).map(saveItemOf));
      return {};
    },
    DeleteState: async (r) => {
      const { key, etag, metadata, options } = r;
      await api.deleteState(caller, r.storeName, deleteItemOf({ key, etag, metadata, options, value: Buffer.alloc(0) }));
      return {};
    },
    DeleteBulkState: async (r) => {
      await api.deleteBulkState(caller, r.storeName, (r.states as StateItemMessage[]).map(deleteItemOf));
      return {};
    },
    ExecuteStateTransaction: async (r) => {
      await api.executeStateTransaction(caller, r.storeName, () => transactionOf(r.operations as TransactionalOperationMessage[], r.metadata));
      return {};
    },
    QueryStateAlpha1: (r) => api.queryState(caller, r.storeName, { query: r.query, metadata: r.metadata }),
    // Pub/sub
    PublishEvent: async (r, md) => {
      await api.publishEvent(caller, {
        pubsub: r.pubsubName,
        topic: r.topic,
        data: r.data,
        contentType: r.dataContentType || undefined,
        metadata: r.metadata,
        traceparent: first(md, 'traceparent'),
        tracestate: first(md, 'tracestate'),
      });
      return {};
    },
    BulkPublishEvent: bulkPublish,
    BulkPublishEventAlpha1: bulkPublish,
    // Bindings
    InvokeBinding: async (r, md) =>
      invokeBindingResponse(
        await api.invokeBinding(caller, {
          name: r.name,
          operation: r.operation,
          data: r.data,
          metadata: r.metadata,
          traceparent: first(md, 'traceparent'),
          tracestate: first(md, 'tracestate'),
        }),
      ),
    // Metadata and lifecycle
    GetMetadata: () => metadataResponse(api.getMetadata(caller)),
    SetMetadata: (r) => {
      api.setMetadata(caller, r.key, Buffer.from(r.value as string, 'utf8'));
      return {};
    },
    Shutdown: () => {
      api.shutdown(caller);
      return {};
    },
  };
}

/**
 * `dapr.proto.runtime.v1.Dapr` for the server: its definition, every method carried as raw bytes (so the server
 * routes each method from the start without the message codecs), and the implementation of every method. A
 * served method decodes its request and encodes its response with the codecs of `protos.ts`, loaded on first
 * use; the others answer UNIMPLEMENTED (`ERR_API_UNIMPLEMENTED` naming the method; logged at warn the first
 * time, as the HTTP API logs an API it lacks) without decoding anything. `SubscribeTopicEventsAlpha1`
 * (bidirectional) is served by `topic-events.ts`; the other streaming methods (SubscribeConfiguration, the
 * crypto streams) are among the rest for now, and serving one is adding its handler of the matching kind here.
 */
export function daprService(opts: DaprServiceOptions): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const { api, logger } = opts;
  // Every gRPC caller is the sidecar's own app (the API token, when set, is the only credential), as over HTTP.
  const caller: Caller = { appId: api.appId, transport: 'grpc' };
  const served = handlers(api, caller);
  const authenticate = tokenCheck(opts.apiToken);
  const warned = new Set<string>();

  const fail = (err: unknown) => {
    const e = err instanceof MortarError ? err : new MortarError('ERR_INTERNAL', [(err as Error)?.message ?? String(err)]);
    if (e.code === 'ERR_API_UNIMPLEMENTED') return toServiceError(e, api.appId); // logged by `unimplemented`
    if (e.http >= 500) logger.error({ code: e.code, err: e.message }, e.message);
    else logger.debug({ code: e.code, err: e.message }, e.message);
    return toServiceError(e, api.appId);
  };
  const unimplemented = (name: string) => {
    const e = new MortarError('ERR_API_UNIMPLEMENTED', [`method ${name}`]);
    if (!warned.has(name)) {
      warned.add(name);
      logger.warn({ code: e.code, method: name }, e.message);
    } else {
      logger.debug({ code: e.code, method: name }, e.message);
    }
    return e;
  };

  const raw = (b: Buffer) => b;
  const definition: Record<string, unknown> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const { name, requestStream, responseStream } of daprMethods()) {
    definition[name] = {
      path: `/${DAPR_SERVICE}/${name}`,
      requestStream,
      responseStream,
      requestSerialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      responseDeserialize: raw,
    };
    const handler = served[name];
    if (name === 'SubscribeTopicEventsAlpha1') {
      // Bidirectional: see `topic-events.ts`.
      implementation[name] = (call: ServerDuplexStream<Buffer, Buffer>) => {
        try {
          authenticate(call.metadata);
        } catch (err) {
          call.emit('error', fail(err));
          return;
        }
        try {
          new TopicEventsCall(call, { api, caller, logger, codec: daprCodec(name), streams: opts.streams, fail });
        } catch (err) {
          call.emit('error', fail(err));
        }
      };
    } else if (handler && !requestStream && !responseStream) {
      implementation[name] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        opts.calls.begin();
        const answer: sendUnaryData<Buffer> = (err, res) => {
          opts.calls.end();
          callback(err, res);
        };
        const serve = async () => {
          authenticate(call.metadata);
          const codec = daprCodec(name);
          let request: Message;
          try {
            request = codec.decode(call.request);
          } catch (err) {
            throw new MortarError('ERR_MALFORMED_REQUEST', [`cannot decode the ${name} request: ${(err as Error).message}`]);
          }
          return codec.encode(await handler(request, call.metadata));
        };
        serve().then(
          (res) => answer(null, res),
          (err) => answer(fail(err)),
        );
      };
    } else if (!responseStream) {
      // Unary or client streaming: answered through the callback.
      implementation[name] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        try {
          authenticate(call.metadata);
          throw unimplemented(name);
        } catch (err) {
          callback(fail(err));
        }
      };
    } else {
      // Server or bidirectional streaming: the stream ends with the status.
      implementation[name] = (call: ServerWritableStream<Buffer, Buffer>) => {
        try {
          authenticate(call.metadata);
          throw unimplemented(name);
        } catch (err) {
          call.emit('error', fail(err));
        }
      };
    }
  }
  return { definition: definition as unknown as ServiceDefinition, implementation };
}

/**
 * The `DAPR_API_TOKEN` check of every call (daprd `pkg/api/grpc/auth.go`): UNAUTHENTICATED when the
 * `dapr-api-token` metadata is missing or differs. Compared in constant time.
 */
function tokenCheck(token: string | undefined): (md: Metadata) => void {
  if (!token) return () => undefined;
  const expected = Buffer.from(token);
  return (md) => {
    const given = md.get('dapr-api-token')[0];
    if (given === undefined) throw new MortarError('ERR_API_TOKEN', ['missing api token in request metadata']);
    const g = Buffer.from(String(given));
    if (g.length !== expected.length || !timingSafeEqual(g, expected)) throw new MortarError('ERR_API_TOKEN', ['authentication error: api token mismatch']);
  };
}
