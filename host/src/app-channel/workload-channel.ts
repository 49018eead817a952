/**
 * The app channel to a Wasm workload (`mortar up`): the same calls the HTTP channel makes to an app over the
 * network (`GET /dapr/config`, `GET /dapr/subscribe`, `POST <route>` with a CloudEvent or a bulk body,
 * `OPTIONS` / `POST /<binding>`, the health probe), handed to the workload's incoming handler in process
 * instead. Translation only: the delivery loops, the lifecycle and the health gate are those of an HTTP app.
 *
 * Headers are filtered as the HTTP channel filters them (the framing and connection headers a caller may not
 * set, invalid names or values), names lower-cased as `wasi:http` presents them, `content-length` set for a
 * body and `dapr-api-token` for `APP_API_TOKEN`. Which component serves a path is the workload's business
 * (`WorkloadApp.handle`: routed as a request on `--listen` would be).
 */
import type { AppAnswer, AppTarget } from '../blocks/app-target.js';
import { appCallHeaders } from './channel-headers.js';
import { HealthGate } from './health-gate.js';

/** One call to the workload, as its listener would hand it over (no Spin headers yet: the workload sets them). */
export interface WorkloadAppRequest {
  readonly method: string;
  /** The path and query (`/dapr/subscribe`, `/orders?x=1`). */
  readonly pathWithQuery: string;
  /** Names in lower case, in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
  /** Aborted when the caller's deadline passed. */
  readonly signal: AbortSignal;
}

/** The workload's answer. */
export interface WorkloadAppResponse {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

/** The workload as an app: what the channel calls (implemented in `workloads/workload-app.ts`). */
export interface WorkloadApp {
  /**
   * Resolves once the workload serves requests (its components started): the lifecycle waits for it where it
   * dials an app's port.
   */
  whenServing(): Promise<void>;
  /** Serves one call; never rejects for an answer the workload gave (a trap answers 500). */
  handle(request: WorkloadAppRequest): Promise<WorkloadAppResponse>;
}

/** What the channel needs besides the workload. */
export interface WorkloadChannelOptions {
  readonly appId: string;
  /** `APP_API_TOKEN`: sent as `dapr-api-token` on every call. */
  readonly appToken?: string;
}

/** Left out besides `CHANNEL_HEADERS`: the rest of wasmtime-wasi-http's forbidden headers (`workloads/trigger-server.ts` `FORBIDDEN_HEADERS`). */
const WASI_FORBIDDEN = new Set(['http2-settings', 'proxy-authenticate', 'proxy-authorization']);

/** The channel to the workload (see the module comment). */
export class WorkloadAppChannel extends HealthGate implements AppTarget {
  constructor(
    readonly workload: WorkloadApp,
    readonly opts: WorkloadChannelOptions,
  ) {
    super();
  }

  /** Calls the workload; rejects when no answer came within `timeoutMs` (the request's signal is aborted then). */
  async request(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>, timeoutMs: number): Promise<AppAnswer> {
    const h = appCallHeaders(headers, { appToken: this.opts.appToken, bodyLength: body?.length, lowerCase: true, alsoLeftOut: WASI_FORBIDDEN });
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`the workload did not answer ${method} ${path} within ${timeoutMs}ms`));
      }, timeoutMs);
    });
    try {
      const res = await Promise.race([
        this.workload.handle({ method, pathWithQuery: path, headers: h, body: body ?? new Uint8Array(0), signal: abort.signal }),
        late,
      ]);
      return { status: res.status, body: Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Nothing to release: the workload's instances are the engine's. */
  close(): void {}
}
