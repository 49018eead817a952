/**
 * The one way into a component's `lifecycle` export (every block's): `describe`, `init` and `ping`, typed
 * from the WIT. Used by the loader (`describe` in a throwaway sandbox) and the registry (`init` and `ping`
 * on every new instance).
 */
import type * as Lifecycle from '../../generated/interfaces/mortar-component-lifecycle.js';
import type { Metadata } from '../../generated/interfaces/mortar-component-types.js';
import { LIFECYCLE } from '../building-blocks.js';
import { typedCall, type ExportCall, type TypedCall } from './sandbox/typed-call.js';

export class LifecycleClient {
  readonly #call: TypedCall<typeof Lifecycle>;

  /** `target`: a pool, or the direct call into one instance that `PoolOptions.prepare` gets. */
  constructor(target: { call: ExportCall }) {
    this.#call = typedCall<typeof Lifecycle>(target, LIFECYCLE.js);
  }

  /** What the component says about itself. Check it (`checkDescriptor`): a component may answer anything. */
  describe(): Promise<ReturnType<typeof Lifecycle.describe>> {
    return this.#call('describe', []);
  }

  /** Configures the instance from validated metadata; rejects with the component's `init-error` (a `ComponentCallError`). */
  init(metadata: Metadata): Promise<void> {
    return this.#call('init', [metadata]);
  }

  /** Checks that the backend answers; rejects with the component's message (a `ComponentCallError`). */
  ping(): Promise<void> {
    return this.#call('ping', []);
  }
}
