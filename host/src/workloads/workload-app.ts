/**
 * The workload as a Dapr app (`mortar up`): the `WorkloadApp` the app channel calls
 * (`app-channel/workload-channel.ts`) for `GET /dapr/config`, `GET /dapr/subscribe`, pub/sub deliveries, input
 * binding events and health probes. Each call is routed exactly as a request on `--listen` would be
 * (`trigger-server.ts` `serveRouted`): the component whose Spin route matches the path serves it, with Spin's
 * `spin-*` headers; a path no route matches answers 404 (for `/dapr/subscribe`: no programmatic subscriptions;
 * for a delivery: dropped, as from an HTTP app), a static response answers itself. The authority is the
 * listener's address, the `spin-client-addr` is `127.0.0.1:0` (the call comes from the sidecar in process).
 */
import type { WorkloadApp, WorkloadAppRequest, WorkloadAppResponse } from '../app-channel/workload-channel.js';
import { type RouteOptions, serveRouted } from './trigger-server.js';

/** `spin-client-addr` of the sidecar's calls: no socket, the sidecar in process. */
export const SIDECAR_CLIENT_ADDR = '127.0.0.1:0';

export class WorkloadAppEndpoint implements WorkloadApp {
  #routes?: RouteOptions;
  #authority = '';
  readonly #serving: Promise<void>;
  #resolve!: () => void;

  constructor() {
    this.#serving = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** From now on calls are served: `routes` as the listener at `authority` (`host:port`) serves them. */
  serve(routes: RouteOptions, authority: string): void {
    this.#routes = routes;
    this.#authority = authority;
    this.#resolve();
  }

  whenServing(): Promise<void> {
    return this.#serving;
  }

  async handle(req: WorkloadAppRequest): Promise<WorkloadAppResponse> {
    const routes = this.#routes;
    if (!routes) return { status: 503, headers: [], body: new Uint8Array(0) };
    return serveRouted(routes, {
      method: req.method,
      pathWithQuery: req.pathWithQuery,
      headers: req.headers,
      host: this.#authority,
      authority: this.#authority,
      clientAddr: SIDECAR_CLIENT_ADDR,
      body: async () => req.body,
      signal: req.signal,
    });
  }
}
