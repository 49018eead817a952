/**
 * How a workload's request is answered from what its instances did (`WorkloadHost.handle` on this thread, and
 * `worker-trigger.ts` in a workload worker that listens itself), so both answer alike: a body over
 * `WORKLOAD_LIMITS.requestBodyBytes` 413; a trap, a request past its deadline or no response set 500 with the
 * reason (also logged); a component that is unavailable 503. Each a plain-text body.
 */
import type { WorkloadRequest, WorkloadResponse } from '../components/sandbox/wasi-http.js';
import { MortarError } from '../errors.js';
import { WORKLOAD_LIMITS } from './limits.js';

const utf8 = new TextEncoder();

/** A plain-text response (the host's own answers: 413, 500, 503). */
export function plain(status: number, text: string): WorkloadResponse {
  return { status, headers: [['content-type', utf8.encode('text/plain; charset=utf-8')]], body: utf8.encode(`${text}\n`) };
}

/** Runs `req` on `serve` (a pool's `handle`), answering as the module comment says; never rejects. */
export async function answer(
  name: string,
  serve: (req: WorkloadRequest) => Promise<WorkloadResponse | { error: string }>,
  req: WorkloadRequest,
  warn: (line: string, path: string) => void,
): Promise<WorkloadResponse> {
  const failed = (why: string) => {
    warn(`workload ${name}: ${req.method} ${req.pathWithQuery} failed: ${why}`, req.pathWithQuery);
    return plain(500, `the workload failed: ${why}`);
  };
  if (req.body.byteLength > WORKLOAD_LIMITS.requestBodyBytes) return plain(413, `request body over ${WORKLOAD_LIMITS.requestBodyBytes} bytes`);
  try {
    const r = await serve(req);
    return 'error' in r ? failed(r.error) : r;
  } catch (err) {
    if (err instanceof MortarError && err.code === 'ERR_COMPONENT_UNAVAILABLE') return plain(503, err.message);
    return failed(err instanceof Error ? err.message : String(err));
  }
}
