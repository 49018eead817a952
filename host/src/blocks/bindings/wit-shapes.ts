/**
 * The host-side shapes of `wit/bindings.wit` (`mortar:component/output-binding` and `input-binding`), as
 * jco hands them across the sandbox: records with camelCase fields, `list<u8>` as `Uint8Array`, `option`
 * as `undefined`, `result` errors thrown as `{tag, val}`.
 *
 * Declared by hand until the host types generated from the WIT land (core-blocks); at merge this file is
 * replaced by re-exports of the generated types, and nothing else changes.
 */

/** `types.metadata`: ordered key/value pairs. */
export type WitMetadata = Array<[string, string]>;

/** `binding-types.binding-error` case names. */
export type BindingErrorTag = 'invalid-argument' | 'not-supported' | 'not-found' | 'unavailable' | 'other';

/** `output-binding.invoke-request`. */
export interface WitInvokeRequest {
  operation: string;
  data: Uint8Array;
  metadata: WitMetadata;
}

/** `output-binding.invoke-response`. */
export interface WitInvokeResponse {
  data: Uint8Array;
  metadata: WitMetadata;
  contentType?: string | null;
}

/** `input-binding.event`. */
export interface WitBindingEvent {
  receipt: string;
  data: Uint8Array;
  metadata: WitMetadata;
  contentType?: string | null;
}

/** The export names the sandbox calls (`pool.call(iface, fn, ...)`). */
export const OUTPUT_BINDING = 'outputBinding';
export const INPUT_BINDING = 'inputBinding';
