/**
 * Catalogue errors as gRPC statuses: the code mapping (errors.ts) against daprd's table (spec §2.2), and the
 * `grpc-status-details-bin` trailer (api/grpc/status.ts) decoded by protobufjs from the google.rpc protos,
 * independently of the hand-written encoder.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { catalogue, GrpcCode, MortarError, toGrpcStatus, type ErrorCode } from '../../host/src/errors.js';
import { encodeStatus, STATUS_DETAILS_KEY, toServiceError } from '../../host/src/api/grpc/status.js';
import { mapError } from '../../host/src/blocks/state/store-client.js';
import { ComponentCallError } from '../../host/src/components/sandbox/pool.js';
import { decodeStatus } from '../helpers/grpc.js';

/** A state store's failure, as the state block maps it (`mapError`) under `ERR_STATE_SAVE`. */
const stateFailure = (tag: string) =>
  mapError(new ComponentCallError({ tag, val: 'from the store' }), (msg, o) => new MortarError('ERR_STATE_SAVE', ['s', msg], o));

describe('gRPC status of catalogue errors', () => {
  it("maps each condition of daprd's table to its gRPC code (ETag mismatch ABORTED, not found INVALID_ARGUMENT, forbidden PERMISSION_DENIED, ...)", () => {
    const cases: Array<[string, MortarError, number]> = [
      ['state store not found', new MortarError('ERR_STATE_STORE_NOT_FOUND', ['s']), GrpcCode.INVALID_ARGUMENT],
      ['state store not configured', new MortarError('ERR_STATE_STORE_NOT_CONFIGURED'), GrpcCode.FAILED_PRECONDITION],
      ['ETag mismatch', stateFailure('etag-mismatch'), GrpcCode.ABORTED],
      ['ETag invalid', stateFailure('etag-invalid'), GrpcCode.INVALID_ARGUMENT],
      ['other store failure', stateFailure('backend'), GrpcCode.INTERNAL],
      ['pubsub not found', new MortarError('ERR_PUBSUB_NOT_FOUND', ['p']), GrpcCode.INVALID_ARGUMENT],
      ['pubsub not configured', new MortarError('ERR_PUBSUB_NOT_CONFIGURED'), GrpcCode.FAILED_PRECONDITION],
      ['publish forbidden', new MortarError('ERR_PUBSUB_FORBIDDEN', ['t', 'a']), GrpcCode.PERMISSION_DENIED],
      ['unknown transaction operation', new MortarError('ERR_NOT_SUPPORTED_STATE_OPERATION', ['merge']), GrpcCode.UNIMPLEMENTED],
      ['API not served', new MortarError('ERR_API_UNIMPLEMENTED', ['method GetSecret']), GrpcCode.UNIMPLEMENTED],
      ['API token', new MortarError('ERR_API_TOKEN', ['missing api token in request metadata']), GrpcCode.UNAUTHENTICATED],
      ['malformed request', new MortarError('ERR_MALFORMED_REQUEST', ['bad']), GrpcCode.INVALID_ARGUMENT],
    ];
    for (const [what, err, code] of cases) assert.equal(toGrpcStatus(err, 'app').code, code, what);
    // The ETag mismatch keeps HTTP's 409 beside gRPC's ABORTED: one error, both transports' statuses.
    assert.equal(stateFailure('etag-mismatch').http, 409);
  });

  it('the status carries the message and the ErrorInfo the HTTP body carries (reason, domain dapr.io, metadata appID)', () => {
    const err = new MortarError('ERR_PUBSUB_FORBIDDEN', ['orders', 'billing']);
    const s = toGrpcStatus(err, 'billing');
    assert.equal(s.message, 'topic orders is not allowed for app id billing');
    assert.deepEqual(s.details, [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'DAPR_PUBSUB_FORBIDDEN', domain: 'dapr.io', metadata: { appID: 'billing' } },
    ]);
  });

  it('grpc-status-details-bin decodes as google.rpc.Status {code, message, details: [Any(ErrorInfo)]}', () => {
    const e = toServiceError(new MortarError('ERR_STATE_STORE_NOT_FOUND', ['nostore']), 'orders');
    assert.equal(e.code, GrpcCode.INVALID_ARGUMENT);
    assert.equal(e.details, 'state store nostore is not found');
    const bin = e.metadata.get(STATUS_DETAILS_KEY)[0] as Buffer;
    assert.deepEqual(decodeStatus(bin), {
      code: GrpcCode.INVALID_ARGUMENT,
      message: 'state store nostore is not found',
      details: [
        {
          typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo',
          errorInfo: { reason: 'DAPR_STATE_NOT_FOUND', domain: 'dapr.io', metadata: { appID: 'orders' } },
        },
      ],
    });
  });

  it('an error without a reason has a status with no details; non-ASCII text and large codes survive the encoding', () => {
    assert.deepEqual(decodeStatus(toServiceError(new MortarError('ERR_INTERNAL', ['boom']), 'a').metadata.get(STATUS_DETAILS_KEY)[0] as Buffer), {
      code: GrpcCode.INTERNAL,
      message: 'internal error: boom',
      details: [],
    });
    const long = `é✓ ${'x'.repeat(300)}`; // a length over one varint byte
    const bin = encodeStatus(GrpcCode.UNAUTHENTICATED, long, [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'R', domain: 'dapr.io', metadata: { appID: 'ü', other: 'v' } },
      { '@type': 'type.googleapis.com/google.rpc.ResourceInfo', resourceType: 'state' },
    ]);
    const d = decodeStatus(bin);
    assert.equal(d.code, GrpcCode.UNAUTHENTICATED);
    assert.equal(d.message, long);
    // Only ErrorInfo is encoded: other detail types are left out of the binary status.
    assert.deepEqual(d.details, [
      { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', errorInfo: { reason: 'R', domain: 'dapr.io', metadata: { appID: 'ü', other: 'v' } } },
    ]);
  });

  it('every catalogue code has a gRPC code in google.rpc.Code range (1..16)', () => {
    for (const code of Object.keys(catalogue) as ErrorCode[]) {
      const c = toGrpcStatus(new MortarError(code), 'a').code;
      assert.ok(c >= 1 && c <= 16, `${code}: ${c}`);
    }
  });
});
