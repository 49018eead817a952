/**
 * A catalogue error as a gRPC status: `toGrpcStatus` (errors.ts) gives the code, message and details; this
 * encodes the details as daprd sends them, a `google.rpc.Status` in the `grpc-status-details-bin` trailer.
 * The protos the SDK ships have no `google.rpc` package, and only three small messages are needed, so they
 * are written here by hand in protobuf's wire format:
 *   Status    { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
 *   Any       { string type_url = 1; bytes value = 2; }
 *   ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
 * Details of other types (ResourceInfo, BadRequest, ...) are left out of the binary status.
 */
import { Metadata, type StatusObject, type status } from '@grpc/grpc-js';
import { ERROR_INFO_TYPE, type MortarError, toGrpcStatus, type ErrorDetail } from '../../errors.js';

/** The trailer daprd (and grpc-go's `status.FromError`) carries the rich status in. */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** `err` as the error a grpc-js handler answers with: code, message and the binary status trailer. */
export function toServiceError(err: MortarError, appId: string): StatusObject {
  const s = toGrpcStatus(err, appId);
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, encodeStatus(s.code, s.message, s.details));
  return { code: s.code as status, details: s.message, metadata };
}

/** `google.rpc.Status` with the ErrorInfo details of `details`, in protobuf's wire format. */
export function encodeStatus(code: number, message: string, details: readonly ErrorDetail[]): Buffer {
  const parts: Buffer[] = [];
  if (code !== 0) parts.push(varintField(1, code));
  if (message !== '') parts.push(bytesField(2, Buffer.from(message)));
  for (const d of details) {
    if (d['@type'] !== ERROR_INFO_TYPE) continue;
    const any = Buffer.concat([bytesField(1, Buffer.from(ERROR_INFO_TYPE)), bytesField(2, encodeErrorInfo(d))]);
    parts.push(bytesField(3, any));
  }
  return Buffer.concat(parts);
}

function encodeErrorInfo(d: ErrorDetail): Buffer {
  const parts: Buffer[] = [];
  if (typeof d.reason === 'string' && d.reason !== '') parts.push(bytesField(1, Buffer.from(d.reason)));
  if (typeof d.domain === 'string' && d.domain !== '') parts.push(bytesField(2, Buffer.from(d.domain)));
  for (const [k, v] of Object.entries((d.metadata ?? {}) as Record<string, unknown>)) {
    // A map entry is a message { string key = 1; string value = 2; }.
    parts.push(bytesField(3, Buffer.concat([bytesField(1, Buffer.from(k)), bytesField(2, Buffer.from(String(v)))])));
  }
  return Buffer.concat(parts);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function varintField(field: number, n: number): Buffer {
  return Buffer.concat([varint(field << 3), varint(n)]);
}

function bytesField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}
