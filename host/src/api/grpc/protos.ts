/**
 * The Dapr gRPC API's service, `dapr.proto.runtime.v1.Dapr`, as the server routes and codes it, from the one
 * reading of the Dapr protos per process (`dapr-proto.ts`): so that the start pays for neither protobufjs nor
 * any message code,
 * - `daprMethods()`: the service's methods (names and streaming kinds), read from the descriptor's JSON as it
 *   is, without protobufjs: enough for the server to route every method (as raw bytes) at start.
 * - `daprCodec(name)`: a method's request decoder and response encoder, built on the method's first call (the
 *   messages' code is generated then; the protos' reflection tree is built once for the whole process, ahead
 *   of the first call by `preloadDaprProtos` once the API listens).
 */
import { methodCodec, serviceMethods, type MethodInfo } from '../../dapr-proto.js';

export type { MethodInfo } from '../../dapr-proto.js';
export const DAPR_SERVICE = 'dapr.proto.runtime.v1.Dapr';

/** A method's codec: the request message as the handlers read it (see `MethodCodec`), the response from a plain object. */
export interface ServerCodec {
  decode(bytes: Buffer): unknown;
  encode(message: unknown): Buffer;
}

/** The methods of `dapr.proto.runtime.v1.Dapr`, in the proto's order. */
export function daprMethods(): readonly MethodInfo[] {
  return serviceMethods(DAPR_SERVICE);
}

const codecs = new Map<string, ServerCodec>();

/** The codec of the service's method `name`, built on first use; throws if the service has no such method. */
export function daprCodec(name: string): ServerCodec {
  let codec = codecs.get(name);
  if (!codec) {
    const c = methodCodec(DAPR_SERVICE, name);
    codec = { decode: c.decodeRequest, encode: c.encodeResponse };
    codecs.set(name, codec);
  }
  return codec;
}

/** The codecs by method name, each built on first use (`daprCodec`); an unknown method has none. */
export function daprCodecs(): Promise<{ get(name: string): ServerCodec | undefined }> {
  const names = new Set(daprMethods().map((m) => m.name));
  return Promise.resolve({ get: (name: string) => (names.has(name) ? daprCodec(name) : undefined) });
}
