/**
 * How a workload's request is answered from what its instances did (`WorkloadHost.handle` on this thread, and
 * `worker-trigger.ts` in a workload worker that listens itself), so both answer alike: a body over
 * `WORKLOAD_LIMITS.requestBodyBytes` 413; a trap, a request past its deadline or no response set 500 with the
 * reason (also logged); a component that is unavailable 503. Each a plain-text body. Also the request and the
 * response as they cross between the listener's shapes (`workload-handler.ts`) and the guest's (`wasi-http.ts`).
 */
import type { WorkloadRequest, WorkloadResponse } from '../components/sandbox/wasi-http.js';
import { MortarError } from '../errors.js';
import { WORKLOAD_LIMITS } from './limits.js';
import type { WorkloadRequest as RoutedWorkloadRequest, WorkloadResponse as RoutedWorkloadResponse } from './workload-handler.js';

const utf8 = new TextEncoder();
const latin1 = new TextDecoder('latin1');

/**
 * A routed request as the guest gets it: only what the guest sees (the abort signal stays on the listener's
 * thread; a clone of it would be an empty object costing a structured clone per request).
 */
export function guestRequest(r: RoutedWorkloadRequest): WorkloadRequest {
  const { method, scheme, authority, pathWithQuery, headers, body } = r;
  return { method, scheme, authority, pathWithQuery, headers, body };
}

/** A guest's response as the listener writes it: header values as Node's (byte-per-character) strings. */
export function routedResponse(r: WorkloadResponse): RoutedWorkloadResponse {
  return { status: r.status, headers: r.headers.map(([k, v]) => [k, latin1.decode(v)] as const), body: r.body };
}

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
