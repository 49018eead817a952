/**
 * The standard gRPC health service (`grpc.health.v1.Health`, grpc's health-checking protocol), which probes
 * (grpc_health_probe, Kubernetes gRPC probes) call. The SDK ships no health proto, and the two messages are
 * one field each, so they are coded here:
 *   HealthCheckRequest  { string service = 1; }
 *   HealthCheckResponse { ServingStatus status = 1; }   // UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
 * `Check` answers SERVING while the API serves (`""` or the Dapr service's name), NOT_FOUND for another
 * service. `Watch` is not served (UNIMPLEMENTED, which the protocol allows): an open watch would hold the
 * server's graceful shutdown.
 */
import { status as Status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';

export const SERVING = 1;
/** The services `Check` knows: the whole server and the Dapr API. */
const KNOWN = new Set(['', 'dapr.proto.runtime.v1.Dapr']);

function decodeRequest(buf: Buffer): { service: string } {
  // Field 1 (wire type 2) is the only field; anything else is skipped as protobuf says unknown fields are.
  let service = '';
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80 || i >= buf.length) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 2) {
      const len = varint();
      if (tag >>> 3 === 1) service = buf.subarray(i, i + len).toString('utf8');
      i += len;
    } else if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else break;
  }
  return { service };
}

const encodeResponse = (r: { status: number }) => Buffer.from([0x08, r.status]);

const method = (name: string) => ({
  path: `/grpc.health.v1.Health/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: () => Buffer.alloc(0),
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: () => ({ status: 0 }),
});

export const healthService: ServiceDefinition = { Check: method('Check') } as unknown as ServiceDefinition;

export const healthImplementation: UntypedServiceImplementation = {
  Check(call: ServerUnaryCall<{ service: string }, { status: number }>, callback: sendUnaryData<{ status: number }>) {
    if (!KNOWN.has(call.request.service)) return callback({ code: Status.NOT_FOUND, details: `unknown service ${call.request.service}` });
    callback(null, { status: SERVING });
  },
};
