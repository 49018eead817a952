/**
 * The input bindings this app reads, each served by one `InputLoop`, started as daprd starts them
 * (`send.go StartReadingFromBindings`): once the app is reachable and its subscriptions are started. For
 * a binding whose `direction` does not list `input` explicitly, the app is first asked `OPTIONS /<route>`
 * (3 s): 2xx or 405 means it wants the events; anything else, or no answer, means it does not (logged, no
 * loop). Loops follow hot reload: a replaced component gets a new loop, a removed one loses its loop.
 */
import type { Logger } from '../../logger.js';
import type { ActiveComponent, ComponentRegistry } from '../../components/registry.js';
import type { Fallback, Resiliency } from '../resiliency/resiliency.js';
import { explicitlyInput, servesDirection } from './direction.js';
import { InputLoop } from './input-loop.js';
import type { AppTarget, BindingAppAnswer } from '../app-target.js';

/** Logger, policies and delivery limits for every loop. */
export interface InputBindingsOptions {
  readonly logger: Logger;
  readonly resiliency: Resiliency;
  readonly maxInFlight?: number;
  readonly appTimeoutMs?: number;
  /** daprd's `--app-binding-options-timeout`. */
  readonly probeTimeoutMs?: number;
  /** Acts on an app's answer to an event (`InputLoopOptions.onAppAnswer`). */
  readonly onAppAnswer?: (binding: string, answer: BindingAppAnswer) => Promise<void>;
}

/**
 * Delivery retries when no Resiliency resource sets them, as for pub/sub deliveries: constant 250 ms, 5
 * retries; then the event goes back to the component (`nack`).
 */
const DEFAULT_INBOUND: Fallback = { retry: { policy: 'constant', durationMs: 250, maxIntervalMs: 60_000, maxRetries: 5 } };
/** daprd's default `--app-binding-options-timeout`. */
export const PROBE_TIMEOUT_MS = 3000;

/** The app path of binding `c`: its metadata `route` (a leading `/` added), else `/<name>`. */
export function inputRoute(c: ActiveComponent): string {
  const route = c.hostMetadata.route;
  if (route === undefined || route === '') return `/${c.name}`;
  return route.startsWith('/') ? route : `/${route}`;
}

/** The input binding loops of this sidecar, kept in line with the components in service. */
export class InputBindings {
  readonly #loops = new Map<string, InputLoop>();
  /** Versions the app said it does not want (a non-2xx/405 probe): not asked again until they change. */
  readonly #declined = new WeakSet<ActiveComponent>();
  #app?: AppTarget;
  #reconciling: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    readonly registry: ComponentRegistry,
    readonly opts: InputBindingsOptions,
  ) {}

  /** Binding names with a running loop. */
  reading(): string[] {
    return [...this.#loops.keys()];
  }

  /** Starts reading, for the app behind `app` (call once its subscriptions are started). */
  start(app: AppTarget): Promise<void> {
    this.#app = app;
    return this.reconcile();
  }

  /** Brings the loops in line with the components in service (after every resource scan). */
  reconcile(): Promise<void> {
    this.#reconciling = this.#reconciling
      .then(() => this.#reconcile())
      .catch((err: unknown) => {
        this.opts.logger.error({ err: String(err) }, 'bindings: reconciling input bindings failed');
      });
    return this.#reconciling;
  }

  async #reconcile(): Promise<void> {
    if (this.#closed) return;
    for (const [name, loop] of this.#loops) {
      if (this.registry.get(name) !== loop.component) {
        this.#loops.delete(name);
        await loop.stop();
      }
    }
    const app = this.#app;
    if (!app) return;
    for (const c of this.registry.byBlock('bindings')) {
      if (this.#loops.has(c.name) || this.#declined.has(c) || !servesDirection(c, 'input')) continue;
      const path = app.bindingsByName ? `/${c.name}` : inputRoute(c);
      if (!explicitlyInput(c) && !(await this.#wanted(c, path, app))) continue;
      if (this.#closed || this.registry.get(c.name) !== c) continue;
      const loop = new InputLoop({
        component: c,
        path,
        app,
        logger: this.opts.logger,
        maxInFlight: this.opts.maxInFlight ?? 64,
        appTimeoutMs: this.opts.appTimeoutMs ?? 60_000,
        policy: () => this.opts.resiliency.component(c.name, 'bindings', 'inbound', DEFAULT_INBOUND),
        onAppAnswer: this.opts.onAppAnswer,
      });
      this.#loops.set(c.name, loop);
      loop.start();
    }
  }

  /** daprd's `isAppSubscribedToBinding` over HTTP: `OPTIONS /<route>`; 2xx or 405 is yes. */
  async #wanted(c: ActiveComponent, path: string, app: AppTarget): Promise<boolean> {
    let status: number;
    try {
      status = (await app.request('OPTIONS', path, undefined, { 'content-type': 'application/json' }, this.opts.probeTimeoutMs ?? PROBE_TIMEOUT_MS)).status;
    } catch (err) {
      this.opts.logger.warn(
        { binding: c.name, route: path, err: (err as Error).message },
        `input binding ${c.name}: could not invoke OPTIONS method on input binding subscription endpoint "${path}": ${(err as Error).message}; not reading it`,
      );
      return false;
    }
    if (Math.floor(status / 100) === 2 || status === 405) return true;
    this.#declined.add(c);
    this.opts.logger.info(
      { binding: c.name, route: path, status },
      `app has not subscribed to binding ${c.name} (OPTIONS ${path} answered ${status}); not reading it`,
    );
    return false;
  }

  /** Stops every loop (in-flight deliveries finish first, then each binding is closed). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#reconciling;
    await Promise.all([...this.#loops.values()].map((l) => l.stop()));
    this.#loops.clear();
  }
}
