/**
 * Which failures of a component call are the component answering (not worth a retry, not a fault for a
 * circuit breaker) and which are the backend or the sandbox failing.
 */
import { MortarError } from '../../errors.js';
import { ComponentCallError } from '../../components/sandbox/pool.js';

/** WIT error cases that mean "the request was wrong or cannot succeed", in the state and pub/sub worlds. */
const ANSWERS = new Set(['etag-mismatch', 'etag-invalid', 'not-found', 'invalid-argument', 'not-supported']);
/** Host errors that mean the component or its instance failed, which a retry may get past. */
const TRANSIENT_CODES = new Set(['ERR_COMPONENT_TRAPPED', 'ERR_COMPONENT_TIMEOUT', 'ERR_COMPONENT_UNAVAILABLE']);

/** True when retrying `err` cannot help: the component gave a definite answer, or the request is wrong. */
export function isPermanent(err: unknown): boolean {
  if (err instanceof ComponentCallError) return ANSWERS.has(err.error.tag);
  if (err instanceof MortarError) return !TRANSIENT_CODES.has(err.code);
  return false;
}
