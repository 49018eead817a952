/**
 * A part of a request that the transport decodes only when the universal API asks for it.
 *
 * Dapr checks a request's target (the store, the pub/sub component, the topic) before its body, so an
 * unknown store is reported even when the body is malformed. A transport whose decoding can fail (HTTP's
 * JSON bodies) passes a function; the universal API calls it once, after the target checks. Transports that
 * have typed requests already (gRPC, WIT) pass the value.
 */
export type Deferred<T> = T | (() => T);

/** The value of `d`, decoding it now if it is deferred. */
export function resolve<T>(d: Deferred<T>): T {
  return typeof d === 'function' ? (d as () => T)() : d;
}
