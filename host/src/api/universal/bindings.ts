/**
 * Output bindings through the universal API (`InvokeBinding`, `POST /v1.0/bindings/{name}`; spec 1.5):
 * the typed request and result, and what the bindings block provides to serve them.
 */

/** One call of an output binding. `data` is the bytes the component gets (HTTP re-marshals its JSON `data`). */
export interface InvokeBindingRequest {
  readonly name: string;
  readonly operation: string;
  readonly data: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The component's answer: no `data` when it returned none (HTTP 204). */
export interface InvokeBindingResult {
  readonly data?: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The bindings block as the universal API uses it. Until one is given to `UniversalApi`, `invokeBinding`
 * answers `ERR_API_UNIMPLEMENTED`, as mortar answers for the bindings API today.
 */
export interface OutputBindings {
  /** Invokes `req.name` for the app `appId`; throws catalogue errors (`ERR_INVOKE_OUTPUT_BINDING`, ...). */
  invoke(appId: string, req: InvokeBindingRequest): Promise<InvokeBindingResult>;
}
