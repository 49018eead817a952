/**
 * The seam between the workload's HTTP listener (`trigger-server.ts`, which routes as Spin does) and the engine
 * that runs a component's `wasi:http/incoming-handler` for each request. The listener hands over a request
 * that is complete and bounded (`--max-body-size`), with Spin's `spin-*` headers already set; the engine answers
 * a complete response.
 */
import { MortarError, toDaprBody } from '../errors.js';

/** One request for a component, as `wasi:http` presents it to the guest. */
export interface WorkloadRequest {
  /** The method as sent (`GET`, `POST`, ...). */
  readonly method: string;
  /** `http`: the listener does not serve TLS. The guest builds its URL from scheme and authority. */
  readonly scheme: 'http' | 'https';
  /** The `Host` header (the listen address when a request has none). */
  readonly authority: string;
  /** The request target's path and query, as sent (not decoded). */
  readonly pathWithQuery: string;
  /**
   * The headers in order, names in lower case, each repeated header once per value, without `host` and the
   * hop-by-hop headers `wasi:http` forbids (`trigger-server.ts` `FORBIDDEN_HEADERS`); the client's `spin-*`
   * headers are replaced by Spin's (`spin-full-url`, `spin-path-info`, `spin-matched-route`,
   * `spin-component-route`, `spin-raw-component-route`, `spin-base-path`, `spin-client-addr`,
   * `spin-path-match-<param>`).
   */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The whole body (empty for none). */
  readonly body: Uint8Array;
  /** Aborted when the client goes away or the listener stops: the engine may stop the instance. */
  readonly signal: AbortSignal;
}

/** A component's answer. */
export interface WorkloadResponse {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

/**
 * Runs requests on the workload's components. `componentId` is a `[component.<id>]` of the manifest (inline
 * components under the id Spin gives them). A rejection is answered 500 with an empty body, as Spin answers a
 * component that fails; a trap or a timeout should be answered that way too, and the next request served.
 */
export interface WorkloadHandler {
  handle(componentId: string, request: WorkloadRequest): Promise<WorkloadResponse>;
  /** Releases instances; called once the listener has stopped. */
  close?(): Promise<void>;
}

/**
 * The handler until the engine is wired into `mortar up`: every matched route answers 503 with a Dapr error
 * body (`ERR_WORKLOAD_UNAVAILABLE`) that says so.
 */
export class EngineNotWired implements WorkloadHandler {
  constructor(private readonly appId: string) {}

  async handle(componentId: string): Promise<WorkloadResponse> {
    const err = new MortarError('ERR_WORKLOAD_UNAVAILABLE', [componentId, 'the Wasm workload engine is not wired into this build of mortar up yet']);
    return {
      status: err.http,
      headers: [['content-type', 'application/json']],
      body: new TextEncoder().encode(JSON.stringify(toDaprBody(err, this.appId))),
    };
  }
}
