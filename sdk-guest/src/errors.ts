/**
 * The one error a building-block call throws: the WIT `app-error` case, with the catalogue code and message
 * an HTTP app would get for the same mistake (docs/errors.md).
 */
import type { AppError as WitAppError } from 'mortar:app/types@0.1.0';

/** What failed, by `app-error` case: `etag-mismatch`, `not-found`, `bad-request`, ... (see wit/deps/app/app.wit). */
export type AppErrorKind = WitAppError['tag'];

/** A failed building-block call. */
export class AppError extends Error {
  /** The `app-error` case: what the workload can do about it (`etag-mismatch`: read again and retry). */
  readonly kind: AppErrorKind;
  /** The catalogue code (`ERR_STATE_SAVE`, `ERR_PUBSUB_FORBIDDEN`, ...). */
  readonly code: string;

  constructor(e: WitAppError) {
    super(e.val.message);
    this.name = 'AppError';
    this.kind = e.tag;
    this.code = e.val.code;
  }
}

/** Whether `v` is a WIT `app-error` value. */
function isWitAppError(v: unknown): v is WitAppError {
  const val = (v as { val?: { code?: unknown } } | null)?.val;
  return typeof (v as { tag?: unknown } | null)?.tag === 'string' && typeof val?.code === 'string';
}

/**
 * Runs a `mortar:app` import and turns its `err` result into an `AppError`. The JS engines hand a result's
 * `err` to the guest as a thrown value, the `app-error` itself or an Error carrying it as `payload`.
 */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const payload = (e as { payload?: unknown } | null)?.payload ?? e;
    if (isWitAppError(payload)) throw new AppError(payload);
    throw e;
  }
}
