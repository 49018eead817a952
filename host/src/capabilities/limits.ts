/**
 * How much the http and directory capabilities hand a component at once, and how long a path the directory
 * takes: one rule each, documented in the README. A body or a file crosses the bridge in one structured clone
 * and is then copied into the guest's linear memory (128 MiB by default, `--wasm-memory-limit`), where a
 * QuickJS guest may hold another copy: 16 MiB keeps three copies well inside that, and is four times the
 * largest request body the sidecar accepts by default (`--max-body-size 4Mi`), so an output binding can hand
 * back what an app may send.
 */
export const CAPABILITY_LIMITS = {
  /** The largest response body `mortar:host/http.send` reads; a larger one is `too-large`. */
  httpResponseBodyBytes: 16 * 1024 * 1024,
  /** The largest file `mortar:host/directory` `root.read` reads; a larger one is `too-large`. */
  fileReadBytes: 16 * 1024 * 1024,
  /** The most entries one `root.list` returns, whatever its `max`. */
  listEntries: 10_000,
  /**
   * The longest path `mortar:host/directory` takes: a segment of at most `segmentBytes`, at most `segments`
   * segments (empty and `.` ones not counted), at most `bytes` in all; a longer one is `invalid-path`. The depth
   * bounds the directories a `write` makes and every walk from the root; `list` goes no deeper either.
   */
  directoryPath: { segmentBytes: 255, segments: 64, bytes: 4096 },
} as const;

/** `n` bytes as the limits' messages name them (`16 MiB`). */
export function mib(n: number): string {
  return `${n / (1024 * 1024)} MiB`;
}
