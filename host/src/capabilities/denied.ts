/**
 * How a refused grant is worded, in one place: the `access-denied` error the guest gets and the line the host
 * logs, wherever the I/O was to happen (the capability thread, or a sandbox worker performing a plan).
 */
import { witError, type WitError } from './wit-error.js';

/**
 * The refusal of `kind` `what` (`http https://x:443`) to `component`: not granted by its metadata, or for the
 * reason `why` (a path outside the granted directory, say).
 */
export function deniedError(component: string, kind: string, what: string, why?: string): { error: WitError; log: string } {
  return {
    error: witError('access-denied', why === undefined ? `${kind} ${what} is not granted to component ${component}` : `${kind} ${what}: ${why}`),
    log: `component ${component} may not reach ${kind} ${what}: ${why ?? 'not granted by its metadata'}`,
  };
}
