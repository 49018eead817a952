/**
 * The output half of the bindings building block, transport-neutral: the HTTP route, a gRPC
 * `InvokeBinding` and a Wasm guest all call `invoke` with bytes and a string map, and get bytes back.
 * Lookup, operation check and wording follow daprd (`pkg/runtime/processor/binding/send.go
 * SendToOutputBinding`); the call runs under the component's outbound resiliency policy.
 */
import { MortarError } from '../../errors.js';
import type { ComponentRegistry } from '../../components/registry.js';
import type { Resiliency } from '../resiliency/resiliency.js';
import { BindingClient, outputBindingError } from './binding-client.js';
import { servesDirection } from './direction.js';

/** One output binding request: `data` are the bytes the component gets (over HTTP, the re-marshalled JSON). */
export interface OutputBindingRequest {
  readonly operation: string;
  readonly data: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
  /** W3C trace context of the caller, added to the metadata as daprd adds its span's. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** What the component answered. `contentType` is undefined when it named none (HTTP then says JSON). */
export interface OutputBindingResponse {
  readonly data: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

/** What the service needs: the resiliency policies in force. */
export interface BindingsServiceOptions {
  readonly resiliency: Resiliency;
}

/** Output bindings: `invoke` is what every transport calls. */
export class BindingsService {
  constructor(
    readonly registry: ComponentRegistry,
    readonly opts: BindingsServiceOptions,
  ) {}

  /**
   * Sends `req` to output binding `name`. Resolves with the component's response, or undefined for none
   * (HTTP 204). Every failure is 500 `ERR_INVOKE_OUTPUT_BINDING` worded as daprd words it: a missing
   * operation, no such output binding (also one whose `direction` leaves out `output`, which daprd never
   * starts as an output binding), an operation the binding does not list, or the component's error.
   * `caller` is who asks (this app's id; a guest component's name once Wasm guests call bindings): nothing
   * depends on it yet, as a binding scoped away from this app is never loaded.
   */
  async invoke(_caller: string, name: string, req: OutputBindingRequest): Promise<OutputBindingResponse | undefined> {
    if (req.operation === '') throw new MortarError('ERR_INVOKE_OUTPUT_BINDING', [name, 'operation field is missing from request']);
    const c = this.registry.get(name);
    if (!c || !servesDirection(c, 'output')) throw new MortarError('ERR_INVOKE_OUTPUT_BINDING', [name, `couldn't find output binding ${name}`]);
    const client = BindingClient.of(c);
    let ops: readonly string[];
    try {
      ops = await client.operations();
    } catch (err) {
      throw outputBindingError(name, err);
    }
    if (!ops.includes(req.operation)) {
      throw new MortarError('ERR_INVOKE_OUTPUT_BINDING', [
        name,
        `binding ${name} does not support operation ${req.operation}. supported operations:${ops.join(' ')}`,
      ]);
    }
    const metadata = { ...req.metadata };
    if (req.traceparent) metadata.traceparent = req.traceparent;
    if (req.tracestate) metadata.tracestate = req.tracestate;
    const witReq = { operation: req.operation, data: req.data, metadata: Object.entries(metadata) };
    let res;
    try {
      res = await this.opts.resiliency.outbound(c, 'bindings', (timeoutMs) => client.invoke(witReq, timeoutMs));
    } catch (err) {
      throw outputBindingError(name, err);
    }
    if (!res) return undefined;
    return { data: res.data, metadata: Object.fromEntries(res.metadata), contentType: res.contentType ?? undefined };
  }
}
