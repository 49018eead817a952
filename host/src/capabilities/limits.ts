/**
 * How much the http and directory capabilities hand a component at once: one rule each, documented in the
 * README. A body or a file crosses the bridge in one structured clone and is then copied into the guest's
 * linear memory (128 MiB by default, `--wasm-memory-limit`), where a QuickJS guest may hold another copy: 16 MiB
 * keeps three copies well inside that, and is four times the largest request body the sidecar accepts by
 * default (`--max-body-size 4Mi`), so an output binding can hand back what an app may send.
 */
export const CAPABILITY_LIMITS = {
  /** The largest response body `mortar:host/http.send` reads; a larger one is `too-large`. */
  httpResponseBodyBytes: 16 * 1024 * 1024,
  /** The largest file `mortar:host/directory` `root.read` reads; a larger one is `too-large`. */
  fileReadBytes: 16 * 1024 * 1024,
  /** The most entries one `root.list` returns, whatever its `max`. */
  listEntries: 10_000,
} as const;

/** `n` bytes as the limits' messages name them (`16 MiB`). */
export function mib(n: number): string {
  return `${n / (1024 * 1024)} MiB`;
}
