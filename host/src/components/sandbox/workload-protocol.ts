/**
 * What the host and a workload worker (`workload-worker.ts`) agree on beyond `protocol.ts`: the one call a
 * workload serves and the data it starts from. Imports nothing, so the host can load it without loading the
 * worker.
 */

/** The interface and function a workload call names (`InstancePool.call(WORKLOAD_IFACE, WORKLOAD_FN, [request])`). */
export const WORKLOAD_IFACE = 'workload';
export const WORKLOAD_FN = 'handle';

/** What a workload worker starts from, beyond `WorkerInit` (`PoolOptions.worker.data`). */
export interface WorkloadWorkerData {
  /** The guest's environment variables (a Spin component's `environment`). */
  readonly environment: Readonly<Record<string, string>>;
  /** The most bytes a response body, and an outbound request body, may have. */
  readonly responseBodyBytes: number;
  readonly outboundBodyBytes: number;
  /** The most bytes of one `mortar:app` call's arguments (`app-guest-imports.ts` `callBytes`). */
  readonly appCallBytes: number;
}
