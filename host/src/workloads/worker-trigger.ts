/**
 * The workload's HTTP listener run inside each of its async workers (`AsyncWorkloadPool.listen`): the same
 * `TriggerServer`, joined to the address `mortar up` opened (`SO_REUSEPORT`: the kernel spreads connections
 * over the workers), serving the requests of its connections on that worker's instances. A request then costs
 * no hand-off between threads: parsing, routing, Spin's headers and the answer are the worker's, and only its
 * host calls (key-value, variables, ...) cross to the main thread.
 *
 * Used when every route leads to one component (or to a static response): the worker serves what it routes.
 * It answers as the listener on the main thread does (`workload-answer.ts`, `serveRouted`).
 */
import type { LocalServe, RunningListener } from '../components/sandbox/async-workload-protocol.js';
import type { Logger } from '../logger.js';
import type { StaticResponse } from './spin-manifest.js';
import { type RouteEntry, SpinRouter } from './spin-routes.js';
import { TriggerServer } from './trigger-server.js';
import { answer, guestRequest, routedResponse } from './workload-answer.js';

/** What a worker listens with (structured-cloneable: it crosses to the worker). */
export interface WorkerTriggerOptions {
  readonly appId: string;
  readonly appVersion?: string;
  /** The router's entries (`SpinRouter.entries`), made into a router in the worker. */
  readonly routes: readonly RouteEntry[];
  readonly staticResponses: ReadonlyMap<string, StaticResponse>;
  /** The one component the routes lead to: the worker's. */
  readonly component: string;
  /** `--max-body-size`. */
  readonly maxBodyBytes: number;
  /** The address `TriggerServer.listen(host, port, 'first')` opened. */
  readonly host: string;
  readonly port: number;
  /** Whether the host logs at debug level (each request's path). */
  readonly debug: boolean;
}

/** This module, as a `WorkerListener` names it. */
export const WORKER_TRIGGER_MODULE = new URL('./worker-trigger.js', import.meta.url).href;

/** `WorkerListenerModule.startListener`. */
export async function startListener(
  options: unknown,
  serve: LocalServe,
  log: (level: 'debug' | 'warn' | 'error', line: string) => void,
): Promise<RunningListener> {
  const o = options as WorkerTriggerOptions;
  const none = () => {};
  // The listener's few lines (`TriggerServer`, `serveRouted`), to the host's log over the worker's bridge.
  const logger = {
    debug: o.debug ? (_: unknown, line: string) => log('debug', line) : none,
    warn: (_: unknown, line: string) => log('warn', line),
    error: (_: unknown, line: string) => log('error', line),
  } as unknown as Logger;
  const server = new TriggerServer({
    appId: o.appId,
    appVersion: o.appVersion,
    router: new SpinRouter(o.routes),
    staticResponses: o.staticResponses,
    maxBodyBytes: o.maxBodyBytes,
    logger,
    handler: {
      async handle(componentId, req) {
        if (componentId !== o.component) throw new Error(`no component '${componentId}' in this worker`);
        return routedResponse(await answer(o.component, serve, guestRequest(req), (line) => log('warn', line)));
      },
    },
  });
  await server.listen(o.host, o.port, 'join');
  return { close: (graceMs) => server.close(graceMs) };
}
