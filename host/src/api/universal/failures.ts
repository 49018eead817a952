/**
 * What a transport may ask of a failed universal-API call beyond its catalogue entry: today, whether a state
 * operation failed on an ETag (a mismatch, or an ETag the store does not issue), which the catalogue code alone
 * does not tell (an invalid ETag and a bad TTL are both a 400 `ERR_STATE_SAVE`; a transaction's mismatch is a
 * 500 `ERR_STATE_TRANSACTION`, as Dapr reports it). The Wasm face (`workloads/app-imports.ts`) maps it to its typed
 * `etag-mismatch` / `etag-invalid` cases.
 */
export { etagFailureOf } from '../../blocks/state/store-client.js';
