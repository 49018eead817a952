/**
 * The Dapr gRPC API's service definition, loaded once from the protos the official SDK ships (`@dapr/dapr`).
 * `npm run build` copies them into `dist/proto` (never into the sources) and parses them into one JSON
 * descriptor, `dist/proto/dapr.json`, which is what is read here: about 25 ms, against about 80 ms for
 * parsing the .proto text at every start.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';

/** Where `npm run build` puts the protos and their descriptor (`dist/proto`, from `dist/host/src/api/grpc/`). */
export const PROTO_DIR = fileURLToPath(new URL('../../../../proto/', import.meta.url));
const DESCRIPTOR = `${PROTO_DIR}dapr.json`;

/**
 * How messages are decoded for the handlers: camelCase field names (as the descriptor was parsed), enums as
 * numbers, bytes as `Buffer`, and every field present with its default (proto3: an empty string, 0, an empty
 * list or map; a missing message is `null`), so the handlers read a request as daprd's getters do.
 */
const OPTIONS = { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true } as const;

let dapr: ServiceDefinition | undefined;

/** `dapr.proto.runtime.v1.Dapr`, loaded on the first call, then kept. */
export function daprService(): ServiceDefinition {
  if (!dapr) {
    const pkg = fromJSON(JSON.parse(readFileSync(DESCRIPTOR, 'utf8')), OPTIONS);
    dapr = pkg['dapr.proto.runtime.v1.Dapr'] as ServiceDefinition;
    if (!dapr) throw new Error(`${DESCRIPTOR}: no service dapr.proto.runtime.v1.Dapr`);
  }
  return dapr;
}
