/**
 * The Dapr protos, read once per process for both gRPC ends: the API server (`api/grpc/`) and the app channel
 * (`app-channel/grpc-channel.ts`). `npm run build` copies the protos the official SDK ships (`@dapr/dapr`) into
 * `dist/proto` and parses them into one JSON descriptor, `dist/proto/dapr.json`, which is what is read here, in
 * three steps, each on first use and never twice:
 * - `daprDescriptor()`: the descriptor's JSON (about 46 kB), enough for `serviceMethods` to list a service's
 *   methods (names and streaming kinds) without loading protobufjs.
 * - the reflection tree (protobufjs/light `Root.fromJSON`, about 20 ms and 40 ms for the library's first load),
 *   built when the first codec is asked for (`preloadDaprProtos` builds it ahead).
 * - `methodCodec(service, method)`: one method's request and response codecs (protobufjs generates each
 *   message's code the first time it is used), so a process pays only for the methods it serves or calls.
 *   @grpc/proto-loader, which builds every method's codecs and a descriptor of every message at once, is not
 *   used: it cost 13 MB of a sidecar's RSS.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Protobuf from 'protobufjs';

/** Where `npm run build` puts the protos and their descriptor (`dist/proto`, from `dist/host/src/`). */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const DESCRIPTOR = `${PROTO_DIR}dapr.json`;

/** The package of the Dapr runtime's services (`Dapr`, `AppCallback`, `AppCallbackHealthCheck`, `AppCallbackAlpha`). */
export const DAPR_PACKAGE = 'dapr.proto.runtime.v1';

/** A method of a service: its name and streaming kinds, as a server routes it. */
export interface MethodInfo {
  readonly name: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/**
 * One method's messages as bytes and back. Decoded messages have camelCase field names (as the descriptor was
 * parsed), enums as numbers, bytes as `Buffer`, 64-bit integers as numbers, and every field present with its
 * default (proto3: an empty string, 0, an empty list or map; a missing message is `null`), so code reads a
 * message as daprd's getters do. Encoding takes a plain object of the same shape (missing fields are defaults).
 * These are @grpc/proto-loader's conversions, with its options as the API and the app channel used them.
 */
export interface MethodCodec {
  decodeRequest(bytes: Uint8Array): unknown;
  encodeRequest(message: unknown): Buffer;
  decodeResponse(bytes: Uint8Array): unknown;
  encodeResponse(message: unknown): Buffer;
}

/** protobufjs `toObject` options (see `MethodCodec`). */
const OPTIONS: Protobuf.IConversionOptions = { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true };

type JsonNode = { nested?: Record<string, JsonNode>; methods?: Record<string, { requestStream?: boolean; responseStream?: boolean }> };

let descriptor: JsonNode | undefined;
/** The descriptor's JSON, parsed once. */
export function daprDescriptor(): Record<string, unknown> {
  descriptor ??= JSON.parse(readFileSync(DESCRIPTOR, 'utf8')) as JsonNode;
  return descriptor as Record<string, unknown>;
}

function jsonNode(fullName: string): JsonNode | undefined {
  let node: JsonNode | undefined = daprDescriptor() as JsonNode;
  for (const part of fullName.split('.')) node = node?.nested?.[part];
  return node;
}

/** The services of a package (`DAPR_PACKAGE`), by full name, in the proto's order. */
export function packageServices(pkg: string): string[] {
  const nested = jsonNode(pkg)?.nested ?? {};
  return Object.keys(nested)
    .filter((name) => nested[name]!.methods !== undefined)
    .map((name) => `${pkg}.${name}`);
}

const methodLists = new Map<string, readonly MethodInfo[]>();
/** The methods of `service` (a full name such as `dapr.proto.runtime.v1.Dapr`), in the proto's order. */
export function serviceMethods(service: string): readonly MethodInfo[] {
  let list = methodLists.get(service);
  if (!list) {
    const defs = jsonNode(service)?.methods;
    if (!defs) throw new Error(`${DESCRIPTOR}: no service ${service}`);
    list = Object.entries(defs).map(([name, m]) => ({ name, requestStream: m.requestStream === true, responseStream: m.responseStream === true }));
    methodLists.set(service, list);
  }
  return list;
}

let root: Protobuf.Root | undefined;
/** The reflection tree of every message, built once (no message code is generated until a codec is used). */
function protoRoot(): Protobuf.Root {
  if (!root) {
    const protobuf = createRequire(import.meta.url)('protobufjs/light') as typeof Protobuf;
    root = protobuf.Root.fromJSON(daprDescriptor() as Protobuf.INamespace);
  }
  return root;
}

/** Builds the reflection tree now, so that the first codec asked for does not wait for it. */
export function preloadDaprProtos(): void {
  protoRoot();
}

function encoder(type: Protobuf.Type): (message: unknown) => Buffer {
  return (message) => {
    if (Array.isArray(message)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(message as Record<string, unknown>)).finish() as Buffer;
  };
}
function decoder(type: Protobuf.Type): (bytes: Uint8Array) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), OPTIONS);
}

const codecs = new Map<string, MethodCodec>();
/** The codecs of `service`'s `method`, built on first use; throws if the service has no such method. */
export function methodCodec(service: string, method: string): MethodCodec {
  const key = `${service}/${method}`;
  let codec = codecs.get(key);
  if (!codec) {
    const m = protoRoot().lookupService(service).methods[method];
    if (!m) throw new Error(`${DESCRIPTOR}: no method ${method} in ${service}`);
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    codec = { decodeRequest: decoder(req), encodeRequest: encoder(req), decodeResponse: decoder(res), encodeResponse: encoder(res) };
    codecs.set(key, codec);
  }
  return codec;
}
