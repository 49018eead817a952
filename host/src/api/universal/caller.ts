/**
 * Who calls the universal API: the app a request acts for, and how it came. Every operation takes one, and
 * what depends on the caller's identity follows it: state key prefixes, a published CloudEvent's `source`,
 * pub/sub topic scopes.
 */

/** The transport a call came over. */
export type Transport = 'http' | 'grpc' | 'wasm';

/**
 * A caller of the universal API. Today every caller is the sidecar's own app (`--app-id`), over HTTP or gRPC;
 * Wasm workloads calling the building blocks through WIT imports come next. A workload will
 * add its own grants and scopes here as further optional fields, checked in `access.ts` with the rest.
 */
export interface Caller {
  /** The app id the call acts for. */
  readonly appId: string;
  /** The app's namespace, when it has one (Kubernetes); unused in standalone mode. */
  readonly namespace?: string;
  readonly transport: Transport;
}
