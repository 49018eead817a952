/**
 * The Dapr gRPC API's service, from the protos the official SDK ships (`@dapr/dapr`). `npm run build` copies
 * them into `dist/proto` (never into the sources) and parses them into one JSON descriptor,
 * `dist/proto/dapr.json`, which is what is read here, in two steps so that the start pays for neither
 * @grpc/proto-loader nor the message codecs:
 * - `daprMethods()`: the service's methods (names and streaming kinds), read from the descriptor's JSON as it
 *   is, without protobufjs: enough for the server to route every method (as raw bytes) at start.
 * - `daprCodecs()`: each method's request decoder and response encoder, built by @grpc/proto-loader from the
 *   descriptor on first use (about 25 ms for the descriptor and 40 ms for the library's first load; the
 *   runtime starts it once the API listens, so the first call rarely waits for it).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the protos and their descriptor (`dist/proto`, from `dist/host/src/api/grpc/`). */
export const PROTO_DIR = fileURLToPath(new URL('../../../../proto/', import.meta.url));
const DESCRIPTOR = `${PROTO_DIR}dapr.json`;
export const DAPR_SERVICE = 'dapr.proto.runtime.v1.Dapr';

/** A method of the service, as the server routes it. */
export interface MethodInfo {
  readonly name: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** A method's codec: the request message as the handlers read it, the response from a plain object. */
export interface MethodCodec {
  decode(bytes: Buffer): unknown;
  encode(message: unknown): Buffer;
}

/**
 * How messages are decoded for the handlers: camelCase field names (as the descriptor was parsed), enums as
 * numbers, bytes as `Buffer`, and every field present with its default (proto3: an empty string, 0, an empty
 * list or map; a missing message is `null`), so the handlers read a request as daprd's getters do.
 */
const OPTIONS = { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true } as const;

let descriptor: Record<string, unknown> | undefined;
function readDescriptor(): Record<string, unknown> {
  descriptor ??= JSON.parse(readFileSync(DESCRIPTOR, 'utf8')) as Record<string, unknown>;
  return descriptor;
}

let methods: MethodInfo[] | undefined;

/** The methods of `dapr.proto.runtime.v1.Dapr`, in the proto's order. */
export function daprMethods(): readonly MethodInfo[] {
  if (!methods) {
    let node: unknown = readDescriptor();
    for (const name of DAPR_SERVICE.split('.')) node = (node as { nested?: Record<string, unknown> } | undefined)?.nested?.[name];
    const defs = (node as { methods?: Record<string, { requestStream?: boolean; responseStream?: boolean }> } | undefined)?.methods;
    if (!defs) throw new Error(`${DESCRIPTOR}: no service ${DAPR_SERVICE}`);
    methods = Object.entries(defs).map(([name, m]) => ({ name, requestStream: m.requestStream === true, responseStream: m.responseStream === true }));
  }
  return methods;
}

let codecs: Promise<ReadonlyMap<string, MethodCodec>> | undefined;

/** Every method's codec, by method name; built once. */
export function daprCodecs(): Promise<ReadonlyMap<string, MethodCodec>> {
  codecs ??= import('@grpc/proto-loader').then(({ fromJSON }) => {
    const service = fromJSON(readDescriptor(), OPTIONS)[DAPR_SERVICE] as Record<
      string,
      { requestDeserialize(b: Buffer): unknown; responseSerialize(m: unknown): Buffer }
    >;
    return new Map(
      Object.entries(service).map(([name, d]) => [name, { decode: (b: Buffer) => d.requestDeserialize(b), encode: (m: unknown) => d.responseSerialize(m) }]),
    );
  });
  return codecs;
}
