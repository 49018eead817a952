/**
 * The one place the host calls a bindings component: typed methods over its sandbox pools for both halves
 * of `wit/bindings.wit`. Output calls go to the component's pool; the input half (`open`, `fetch` that
 * long-polls, `ack`, `nack`, `close`) goes to its side pool, so a waiting fetch never holds up an
 * `invoke`. A `binding-error` the component returns is thrown as the pool's `ComponentCallError` (so a
 * resiliency policy can tell an answer from an outage, see `permanent.ts`); `outputBindingError` turns
 * whatever a call threw into the catalogue error daprd answers.
 */
import { MortarError } from '../../errors.js';
import type { ActiveComponent } from '../../components/registry.js';
import { ComponentCallError } from '../../components/sandbox/pool.js';
import { typedCall } from '../../components/sandbox/typed-call.js';
import { BLOCKS } from '../../building-blocks.js';
import type * as Output from '../../../generated/interfaces/mortar-component-output-binding.js';
import type * as Input from '../../../generated/interfaces/mortar-component-input-binding.js';
import type { InvokeRequest, InvokeResponse } from '../../../generated/interfaces/mortar-component-output-binding.js';
import type { Event } from '../../../generated/interfaces/mortar-component-input-binding.js';

export type { InvokeRequest, InvokeResponse } from '../../../generated/interfaces/mortar-component-output-binding.js';
export type { Event as BindingEvent } from '../../../generated/interfaces/mortar-component-input-binding.js';
export type { BindingError } from '../../../generated/interfaces/mortar-component-binding-types.js';

const OUTPUT = BLOCKS.bindings.interfaces['output-binding'];
const INPUT = BLOCKS.bindings.interfaces['input-binding'];

/** `operations()` per running version of a component: it "must not fail", and is asked once. */
const OPERATIONS = new WeakMap<ActiveComponent, Promise<readonly string[]>>();

/** The client of each running version of a component, made once (it is asked on every request). */
const CLIENTS = new WeakMap<ActiveComponent, BindingClient>();

/** Typed calls to one running version of a bindings component (see the file comment). */
export class BindingClient {
  /** The component exports `output-binding`. */
  readonly isOutput: boolean;
  /** The component exports `input-binding`. */
  readonly isInput: boolean;

  constructor(readonly component: ActiveComponent) {
    this.isOutput = exports(component, 'output-binding');
    this.isInput = exports(component, 'input-binding');
  }

  /** The client of `component` (one per running version). */
  static of(component: ActiveComponent): BindingClient {
    let c = CLIENTS.get(component);
    if (!c) CLIENTS.set(component, (c = new BindingClient(component)));
    return c;
  }

  get name(): string {
    return this.component.name;
  }

  /** The operations `invoke` accepts, asked once per component version. */
  operations(): Promise<readonly string[]> {
    let ops = OPERATIONS.get(this.component);
    if (!ops) {
      ops = typedCall<typeof Output>(this.component.pool, OUTPUT)('operations', []).then((r) => r.map(String));
      OPERATIONS.set(this.component, ops);
      // A failed ask (the instance was being replaced) is not remembered: the next request asks again.
      ops.catch(() => {
        if (OPERATIONS.get(this.component) === ops) OPERATIONS.delete(this.component);
      });
    }
    return ops;
  }

  /** `invoke`; undefined is the component's `none` (no response object). */
  async invoke(req: InvokeRequest, timeoutMs: number): Promise<InvokeResponse | undefined> {
    return (await typedCall<typeof Output>(this.component.pool, OUTPUT)('invoke', [req], timeoutMs)) ?? undefined;
  }

  /** Typed calls to the input half, on the side pool. */
  async #input() {
    const pool = await this.component.sidePool();
    return { pool, call: typedCall<typeof Input>(pool, INPUT) };
  }

  /** `open`: returns once the source is set up. */
  async open(): Promise<void> {
    const { call } = await this.#input();
    await call('open', []);
  }

  /** `fetch`: up to `max` events, waiting up to `waitMs` for the first; the wait comes on top of the call's deadline. */
  async fetch(max: number, waitMs: number): Promise<Event[]> {
    const { pool, call } = await this.#input();
    return await call('fetch', [max, waitMs], waitMs + pool.callTimeout());
  }

  /** `ack`: the app took these events. */
  async ack(receipts: readonly string[]): Promise<void> {
    const { call } = await this.#input();
    await call('ack', [[...receipts]]);
  }

  /** `nack`: the app did not take these events after the retries, for the reason `error`. */
  async nack(receipts: readonly string[], error: string, delayMs: number): Promise<void> {
    const { call } = await this.#input();
    await call('nack', [[...receipts], error, Math.max(0, Math.round(delayMs))]);
  }

  /** `close`: stops reading; unsettled events go back to the source. */
  async close(): Promise<void> {
    const { call } = await this.#input();
    await call('close', []);
  }
}

function exports(c: ActiveComponent, iface: string): boolean {
  return c.module.artifact.exports.some((e) => e.startsWith(`mortar:component/${iface}@`));
}

/** What a failed call says, as daprd words the component's error: its own message for a `binding-error`. */
export function describeBindingError(err: unknown): string {
  if (err instanceof ComponentCallError) return typeof err.error.val === 'string' ? err.error.val : err.error.tag;
  return err instanceof Error ? err.message : String(err);
}

/** Any failure of an output binding call, as daprd answers it: 500 `ERR_INVOKE_OUTPUT_BINDING`. */
export function outputBindingError(name: string, err: unknown): MortarError {
  if (err instanceof MortarError && err.code === 'ERR_INVOKE_OUTPUT_BINDING') return err;
  return new MortarError('ERR_INVOKE_OUTPUT_BINDING', [name, describeBindingError(err)], { cause: err });
}
