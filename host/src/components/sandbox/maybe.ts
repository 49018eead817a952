/**
 * A host import's answer in either kind of workload worker: a value in a sync worker (its host calls block),
 * the promise of one in an async worker (its host calls answer promises, and the JSPI glue suspends the guest
 * until they settle). These helpers let one import body serve both.
 */

/** A value, or the promise of one. */
export type Maybe<T> = T | Promise<T>;

/** `f` of `v`: at once for a value, once it resolves for a promise. */
export function map<T, U>(v: Maybe<T>, f: (x: T) => U): Maybe<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/** Runs `f`; what it throws, or the rejection of the promise it answers, goes to `fail`. */
export function guarded<T>(f: () => Maybe<T>, fail: (err: unknown) => Maybe<T>): Maybe<T> {
  try {
    const r = f();
    return r instanceof Promise ? r.catch(fail) : r;
  } catch (err) {
    return fail(err);
  }
}
