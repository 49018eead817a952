/** A WIT error value as thrown to a guest: the case name and its payload. */
export interface WitError {
  readonly tag: string;
  readonly val?: unknown;
}

/** Builds a WIT error value; capabilities reject with these and the sandbox hands them to the guest. */
export function witError(tag: string, val?: string): WitError {
  return val === undefined ? { tag } : { tag, val };
}

/** Connection-level failures (refused, reset, timed out, DNS) are `unavailable`; the rest keep their text. */
export function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN)$/.test(code) ||
    /Connection is closed|connect ECONNREFUSED|Connection terminated|timeout/i.test(msg)
  );
}
