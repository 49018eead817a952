/**
 * Output bindings through the universal API (`InvokeBinding`, `POST /v1.0/bindings/{name}`; spec 1.5):
 * the typed request and result. The bindings block (`blocks/bindings/bindings-service.ts`) serves them.
 */
import type { OutputBindingRequest, OutputBindingResponse } from '../../blocks/bindings/bindings-service.js';

/** One call of an output binding: `data` is the bytes the component gets (HTTP re-marshals its JSON `data`). */
export interface InvokeBindingRequest extends OutputBindingRequest {
  /** The binding component's name. */
  readonly name: string;
}

/** The component's answer; `undefined` (no response object, HTTP 204) is told apart by the caller. */
export type InvokeBindingResult = OutputBindingResponse;
