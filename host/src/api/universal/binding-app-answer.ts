/**
 * What the sidecar does with an app's answer to an input binding event (daprd `send.go sendBindingEventToApp`
 * and `onAppResponse`), through the universal API as any caller's output binding call: the answer's `data`,
 * decoded as JSON and re-marshalled as Go does (`null` when it is not JSON), goes to each output binding of
 * `to` with operation `create` and no metadata. `sequential` sends one after the other and stops at the first
 * failure, and the input-binding loop acknowledges the event only after it; `parallel` sends to all at once
 * and does not wait. A failure is logged and never fails the event. `store_name` / `states` are not saved:
 * daprd stopped reading them in 1.3 (commit 4ed6062, "THIS SHOULD BE DEPRECATED FOR v1.3"), over gRPC and HTTP
 * alike, and an HTTP app's answer body is not read at all; mortar says so in a warning, once per binding.
 */
import type { BindingAppAnswer } from '../../blocks/app-target.js';
import type { Logger } from '../../logger.js';
import { goMarshal } from '../../request-json.js';
import type { Caller } from './caller.js';
import type { UniversalApi } from './universal-api.js';

/** Acts on the apps' answers to input binding events; one per runtime. */
export class BindingAppAnswers {
  /** Bindings whose answer carried `states` (warned about once each). */
  readonly #warned = new Set<string>();

  constructor(
    readonly api: UniversalApi,
    readonly caller: Caller,
    readonly logger: Logger,
  ) {}

  /**
   * Sends the answer's data to its `to` bindings (see the module comment). Resolves once the sequential sends
   * are done, or at once for parallel ones; never rejects.
   */
  async apply(binding: string, answer: BindingAppAnswer): Promise<void> {
    if (answer.states > 0 && !this.#warned.has(binding)) {
      this.#warned.add(binding);
      this.logger.warn(
        { binding, storeName: answer.storeName, states: answer.states },
        `input binding ${binding}: the app answered ${answer.states} states for store '${answer.storeName}'; not saved (daprd has not saved an app's binding answer states since 1.3)`,
      );
    }
    if (answer.to.length === 0) return;
    const data = Buffer.from(goMarshal(parseJson(answer.data)), 'utf8');
    const send = (name: string) => this.api.invokeBinding(this.caller, { name, operation: 'create', data, metadata: {} });
    if (answer.concurrency === 'parallel') {
      for (const name of answer.to) {
        void send(name).catch((err: unknown) => {
          this.logger.error(
            { binding, to: name, err: (err as Error).message },
            `input binding ${binding}: error executing app response: ${(err as Error).message}`,
          );
        });
      }
      return;
    }
    for (const name of answer.to) {
      try {
        await send(name);
      } catch (err) {
        this.logger.error(
          { binding, to: name, err: (err as Error).message },
          `input binding ${binding}: error executing app response: ${(err as Error).message}`,
        );
        return;
      }
    }
  }
}

/** Go's `json.Unmarshal` into `interface{}`: the value, or null (Go's nil) when the bytes are not JSON. */
function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return null;
  }
}
