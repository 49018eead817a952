/**
 * The error catalogue: every error mortar reports, declared once.
 *
 * Each entry fixes the Dapr `errorCode`, the message template (`%s` placeholders, filled in order), the HTTP
 * status, the gRPC status code, the `ErrorInfo.reason` (for Dapr's standardized error details) and who is to
 * blame. Transports never invent codes: they throw `MortarError`s made here and map them through the entry.
 */

/** gRPC status codes, numerically as in `google.rpc.Code`. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type Blame = 'guest' | 'host';

export interface ErrorSpec {
  /** Message template; each `%s` is replaced by the next argument. */
  readonly message: string;
  readonly http: number;
  readonly grpc: number;
  /** Dapr's `ErrorInfo.reason`, when Dapr sends standardized details for this error. */
  readonly reason?: string;
  /** `guest`: the caller or a component's input is wrong (4xx, logged at debug); `host`: our side failed. */
  readonly blame: Blame;
}

function spec(message: string, http: number, grpc: number, blame: Blame, reason?: string): ErrorSpec {
  return { message, http, grpc, blame, reason };
}
const G = GrpcCode;

/** Every error code mortar emits. The key is the code. */
export const catalogue = {
  // Common
  ERR_MALFORMED_REQUEST: spec('%s', 400, G.INVALID_ARGUMENT, 'guest'),
  ERR_BODY_READ: spec('failed to read request body: %s', 400, G.INVALID_ARGUMENT, 'guest'),
  ERR_BAD_REQUEST: spec('invalid request: %s', 400, G.INVALID_ARGUMENT, 'guest'),
  ERR_INTERNAL: spec('internal error: %s', 500, G.INTERNAL, 'host'),
  ERR_API_UNIMPLEMENTED: spec('this API is not implemented: %s', 501, G.UNIMPLEMENTED, 'guest'),
  ERR_DIRECT_INVOKE: spec('%s', 404, G.NOT_FOUND, 'guest'),
  // `DAPR_API_TOKEN` missing or wrong (gRPC; the HTTP API answers its 401 in plain text).
  ERR_API_TOKEN: spec('%s', 401, G.UNAUTHENTICATED, 'guest'),
  // Health
  ERR_HEALTH_NOT_READY: spec('dapr is not ready: %s', 500, G.INTERNAL, 'host'),
  ERR_HEALTH_APPID_NOT_MATCH: spec('dapr app-id does not match', 500, G.INTERNAL, 'guest'),
  ERR_OUTBOUND_HEALTH_NOT_READY: spec('dapr outbound is not ready', 500, G.INTERNAL, 'host'),
  // State
  ERR_STATE_STORE_NOT_CONFIGURED: spec('state store is not configured', 500, G.FAILED_PRECONDITION, 'guest', 'DAPR_STATE_NOT_CONFIGURED'),
  ERR_STATE_STORE_NOT_FOUND: spec('state store %s is not found', 400, G.INVALID_ARGUMENT, 'guest', 'DAPR_STATE_NOT_FOUND'),
  ERR_STATE_ILLEGAL_KEY: spec("input key/keyPrefix '%s' can't contain '||'", 400, G.INVALID_ARGUMENT, 'guest', 'DAPR_STATE_ILLEGAL_KEY'),
  ERR_STATE_GET: spec('fail to get %s from state store %s: %s', 500, G.INTERNAL, 'host'),
  ERR_STATE_BULK_GET: spec('failed getting bulk state from state store %s: %s', 500, G.INTERNAL, 'host'),
  ERR_STATE_SAVE: spec('failed saving state in state store %s: %s', 500, G.INTERNAL, 'host'),
  ERR_STATE_DELETE: spec('failed deleting state with key %s: %s', 500, G.INTERNAL, 'host'),
  ERR_STATE_TRANSACTION: spec('error while executing state transaction: %s', 500, G.INTERNAL, 'host'),
  // daprd's gRPC `ExecuteStateTransaction` answers an unknown operation type with Unimplemented.
  ERR_NOT_SUPPORTED_STATE_OPERATION: spec('operation type %s not supported', 400, G.UNIMPLEMENTED, 'guest'),
  ERR_STATE_STORE_NOT_SUPPORTED: spec("state store %s doesn't support %s", 500, G.UNIMPLEMENTED, 'guest'),
  // mortar's own: the key listing Wasm workloads' key-value interfaces have (Dapr's API has none).
  ERR_STATE_LIST_KEYS: spec('failed listing the keys of state store %s: %s', 500, G.INTERNAL, 'host'),
  // Pub/sub
  ERR_PUBSUB_NOT_CONFIGURED: spec('no pubsub is configured', 400, G.FAILED_PRECONDITION, 'guest', 'DAPR_PUBSUB_NOT_CONFIGURED'),
  ERR_PUBSUB_NOT_FOUND: spec('pubsub %s is not found', 404, G.INVALID_ARGUMENT, 'guest', 'DAPR_PUBSUB_NOT_FOUND'),
  ERR_PUBSUB_EMPTY: spec('pubsub name is empty', 404, G.INVALID_ARGUMENT, 'guest', 'DAPR_PUBSUB_NAME_EMPTY'),
  ERR_TOPIC_NAME_EMPTY: spec('topic is empty in pubsub %s', 404, G.INVALID_ARGUMENT, 'guest', 'DAPR_PUBSUB_TOPIC_NAME_EMPTY'),
  ERR_PUBSUB_FORBIDDEN: spec('topic %s is not allowed for app id %s', 403, G.PERMISSION_DENIED, 'guest', 'DAPR_PUBSUB_FORBIDDEN'),
  ERR_PUBSUB_PUBLISH_MESSAGE: spec('error when publish to topic %s in pubsub %s: %s', 500, G.INTERNAL, 'host', 'DAPR_PUBSUB_PUBLISH_MESSAGE'),
  ERR_PUBSUB_REQUEST_METADATA: spec('failed deserializing metadata: %s', 400, G.INVALID_ARGUMENT, 'guest', 'DAPR_PUBSUB_METADATA_DESERIALIZATION'),
  ERR_PUBSUB_CLOUD_EVENTS_SER: spec(
    'error when marshalling cloud event envelope for topic %s pubsub %s: %s',
    500,
    G.INTERNAL,
    'host',
    'DAPR_PUBSUB_CLOUD_EVENT_CREATION',
  ),
  ERR_PUBSUB_EVENTS_SER: spec('error when marshaling events to bytes: %s', 400, G.INVALID_ARGUMENT, 'guest', 'DAPR_PUBSUB_MARSHAL_EVENTS'),
  // gRPC `SubscribeTopicEventsAlpha1`: daprd answers these with a plain error (UNKNOWN, no details).
  ERR_PUBSUB_STREAM: spec('%s', 400, G.UNKNOWN, 'guest'),
  // Bindings
  ERR_INVOKE_OUTPUT_BINDING: spec('error invoking output binding %s: %s', 500, G.INTERNAL, 'host'),
  // Components (mortar's own: loading, validation, sandbox)
  ERR_COMPONENT_TYPE_UNKNOWN: spec("%s: spec.type '%s' is not served by any loaded component (closest: %s; known: %s)", 400, G.INVALID_ARGUMENT, 'guest'),
  ERR_METADATA_INVALID: spec('%s: metadata %s', 400, G.INVALID_ARGUMENT, 'guest'),
  ERR_COMPONENT_INIT: spec('%s: init failed: %s', 500, G.INTERNAL, 'guest'),
  ERR_COMPONENT_INIT_CRASHED: spec('%s: crashed in init, loading %s: %s (a fault in the component, not in the YAML)', 500, G.INTERNAL, 'host'),
  ERR_WASM_INVALID: spec('%s: not a loadable mortar component: %s', 400, G.INVALID_ARGUMENT, 'guest'),
  ERR_COMPONENT_TRAPPED: spec('component %s trapped: %s', 500, G.INTERNAL, 'guest'),
  ERR_COMPONENT_TIMEOUT: spec('component %s did not answer within %sms', 500, G.DEADLINE_EXCEEDED, 'guest'),
  ERR_COMPONENT_UNAVAILABLE: spec('component %s is not available: %s', 500, G.UNAVAILABLE, 'host'),
  // Workloads (`mortar up`): a matched route whose component cannot run a request.
  ERR_WORKLOAD_UNAVAILABLE: spec('workload component %s cannot serve requests: %s', 503, G.UNAVAILABLE, 'host'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof catalogue;

const brand = Symbol.for('mortar.error');

/** Dapr standardized error detail (google.rpc.ErrorInfo and friends), serialised as JSON. */
export type ErrorDetail = Record<string, unknown> & { '@type': string };

/**
 * An error from the catalogue. `instanceof` works across duplicate copies of this module (brand check).
 */
export class MortarError extends Error {
  readonly code: ErrorCode;
  readonly http: number;
  readonly grpc: number;
  readonly blame: Blame;
  readonly reason?: string;
  /** Extra standardized details (ResourceInfo, BadRequest, ...); ErrorInfo is added by `toDaprBody`. */
  details: ErrorDetail[] = [];
  /** Overrides the catalogue's HTTP status (Dapr maps some component errors to 409/400). */
  constructor(code: ErrorCode, args: readonly unknown[] = [], options?: { cause?: unknown; http?: number; grpc?: number; reason?: string }) {
    const entry: ErrorSpec = catalogue[code];
    super(format(entry.message, args), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MortarError';
    this.code = code;
    this.http = options?.http ?? entry.http;
    this.grpc = options?.grpc ?? entry.grpc;
    this.blame = entry.blame;
    this.reason = options?.reason ?? entry.reason;
    (this as unknown as Record<symbol, boolean>)[brand] = true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  /** Adds a detail and returns `this`, for chaining at the throw site. */
  with(detail: ErrorDetail): this {
    this.details.push(detail);
    return this;
  }
}

/** Creates a catalogue error: `mortarError('ERR_STATE_STORE_NOT_FOUND', name)`. */
export function mortarError(code: ErrorCode, ...args: unknown[]): MortarError {
  return new MortarError(code, args);
}

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

/** The standardized details of `err`: ErrorInfo (reason, domain, the app id) when the entry has a reason, then the rest. */
export function errorDetails(err: MortarError, appId: string): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  if (err.reason) {
    details.push({ '@type': ERROR_INFO_TYPE, reason: err.reason, domain: 'dapr.io', metadata: { appID: appId } });
  }
  details.push(...err.details);
  return details;
}

export const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

/** Dapr's JSON error body: `{errorCode, message, details?}`. ErrorInfo is included when the entry has a reason. */
export function toDaprBody(err: MortarError, appId: string): { errorCode: string; message: string; details?: ErrorDetail[] } {
  const details = errorDetails(err, appId);
  const code = err.code === 'ERR_STATE_ILLEGAL_KEY' ? 'ERR_MALFORMED_REQUEST' : err.code;
  return details.length > 0 ? { errorCode: code, message: err.message, details } : { errorCode: code, message: err.message };
}

/**
 * The gRPC status of `err` (daprd's `status.Status`): the entry's code (or the throw site's override, as for
 * an ETag mismatch: ABORTED), the message, and the same details as the HTTP body. The gRPC transport sends
 * it as `grpc-status` / `grpc-message` and, encoded as `google.rpc.Status`, `grpc-status-details-bin`.
 */
export function toGrpcStatus(err: MortarError, appId: string): { code: number; message: string; details: ErrorDetail[] } {
  return { code: err.grpc, message: err.message, details: errorDetails(err, appId) };
}
