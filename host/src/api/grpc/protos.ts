/**
 * The Dapr gRPC API's service definition, loaded once from the protos the official SDK ships (`@dapr/dapr`,
 * copied into `dist/proto` by `npm run build`; never hand-copied into the sources).
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** Where `npm run build` puts the protos (`dist/proto`, from `dist/host/src/api/grpc/`). */
export const PROTO_DIR = fileURLToPath(new URL('../../../../proto/', import.meta.url));

/**
 * How messages are decoded for the handlers: camelCase field names, enums as numbers, bytes as `Buffer`, and
 * every field present with its default (proto3: an empty string, 0, an empty list or map; a missing message is
 * `null`), so the handlers read a request as daprd's getters do.
 */
const OPTIONS = { keepCase: false, longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true } as const;

let dapr: ServiceDefinition | undefined;

/** `dapr.proto.runtime.v1.Dapr`, parsed on the first call (about 60 ms), then kept. */
export function daprService(): ServiceDefinition {
  if (!dapr) {
    const pkg = loadSync('dapr/proto/runtime/v1/dapr.proto', { ...OPTIONS, includeDirs: [PROTO_DIR] });
    dapr = pkg['dapr.proto.runtime.v1.Dapr'] as ServiceDefinition;
    if (!dapr) throw new Error(`${join(PROTO_DIR, 'dapr/proto/runtime/v1/dapr.proto')}: no service dapr.proto.runtime.v1.Dapr`);
  }
  return dapr;
}
