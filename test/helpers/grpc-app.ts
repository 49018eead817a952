/**
 * A raw gRPC app for the gRPC app channel's tests: an @grpc/grpc-js server serving the `AppCallback`,
 * `AppCallbackAlpha` and `AppCallbackHealthCheck` methods a test gives, built from the SDK's own
 * appcallback.proto (as `npm run build` copied it into dist/proto, parsed here from the .proto text,
 * independently of the host's JSON descriptor). A method the test leaves out answers `Unimplemented`, as
 * grpc-js answers any method a server does not implement. Every call is recorded with its request and
 * metadata. For what the official `DaprServer` does not do: serve `OnBulkTopicEvent` (it serves only the
 * Alpha1 method) or answer `OnBindingEvent` with `to` / `data`.
 */
import { join } from 'node:path';
import { Server, ServerCredentials, status, type Metadata, type ServiceError, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT } from './sidecar.js';

const pkg = loadSync('dapr/proto/runtime/v1/appcallback.proto', {
  includeDirs: [join(ROOT, 'dist/proto')],
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
});
// biome-ignore lint/suspicious/noExplicitAny: the service definitions are typed by the protos at run time
const service = (name: string) => pkg[`dapr.proto.runtime.v1.${name}`] as any;

/** A method's handler: resolves with the response message, or rejects with `{code, details}`. */
// biome-ignore lint/suspicious/noExplicitAny: messages are plain objects shaped by the protos
export type Handler = (request: any, metadata: Record<string, string>) => Promise<unknown> | unknown;

/** One call the app received. */
export interface GrpcAppCall {
  readonly method: string;
  // biome-ignore lint/suspicious/noExplicitAny: as decoded by @grpc/proto-loader
  readonly request: any;
  readonly metadata: Record<string, string>;
}

/** A gRPC error a handler throws: `code` is the gRPC status. */
export function grpcError(code: number, details: string): Partial<ServiceError> {
  return { code, details, message: details };
}

function plain(md: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = String(v);
  return out;
}

export class GrpcApp {
  readonly calls: GrpcAppCall[] = [];

  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  /**
   * Listens on 127.0.0.1:`port` (0: a free one) with `handlers` keyed by `Service.Method`
   * (`AppCallback.OnBulkTopicEvent`, `AppCallbackAlpha.OnBulkTopicEventAlpha1`, ...).
   */
  static async start(handlers: Record<string, Handler>, port = 0): Promise<GrpcApp> {
    const server = new Server();
    let app: GrpcApp | undefined;
    const byService = new Map<string, Record<string, (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void>>();
    for (const [key, handler] of Object.entries(handlers)) {
      const [svc, method] = key.split('.') as [string, string];
      if (!service(svc)?.[method]) throw new Error(`no method ${key} in appcallback.proto`);
      const impl = byService.get(svc) ?? {};
      impl[method] = (call, cb) => {
        const metadata = plain(call.metadata);
        app!.calls.push({ method: key, request: call.request, metadata });
        Promise.resolve()
          .then(() => handler(call.request, metadata))
          .then(
            (res) => cb(null, res ?? {}),
            (err: Partial<ServiceError>) => cb({ code: err.code ?? status.UNKNOWN, details: err.details ?? String(err) } as ServiceError),
          );
      };
      byService.set(svc, impl);
    }
    for (const [svc, impl] of byService) server.addService(service(svc), impl);
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    app = new GrpcApp(server, bound);
    return app;
  }

  /** The calls of one method (`Service.Method`), in arrival order. */
  of(method: string): GrpcAppCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 500).unref();
    });
  }
}
