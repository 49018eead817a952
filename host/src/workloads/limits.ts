/**
 * The limits of a Wasm workload's requests, in one place. Each bounds what a client or a guest may make the
 * host hold or do for one request.
 */
export const WORKLOAD_LIMITS = {
  /** The most bytes of a request body handed to a guest (a larger request is refused before the guest runs). */
  requestBodyBytes: 4 * 1024 * 1024,
  /** The most bytes a guest may write as a response body (a write past it fails in the guest). */
  responseBodyBytes: 16 * 1024 * 1024,
  /** The most bytes of an outbound request body a guest may write. */
  outboundBodyBytes: 4 * 1024 * 1024,
  /** The most bytes of one key-value value a guest may write (as `--dapr-http-max-request-size` bounds an HTTP app's). */
  valueBytes: 4 * 1024 * 1024,
  /**
   * The most bytes of one `mortar:app` call's arguments: each `list<u8>` counted by its length, each string by
   * its UTF-8 length, every other value (number, bool, record, list entry, absent option) as 8 bytes
   * (`components/sandbox/app-guest-imports.ts` `callBytes`). Checked in the worker before the call crosses to the
   * host; a call over it fails with `bad-request` (`ERR_BAD_REQUEST`) naming the function and the bound. The
   * same 4 MiB as `--dapr-http-max-request-size` gives an HTTP app's request by default.
   */
  appCallBytes: 4 * 1024 * 1024,
  /** The most keys of one `wasi:keyvalue/batch` call. */
  batchKeys: 1000,
  /** About how many keys one page of a key listing holds (`wasi:keyvalue`'s `list-keys`, and each store call of Spin's `get-keys`). */
  listPageKeys: 1000,
  /** The most keys Spin's `get-keys` returns (it has no paging): a store holding more fails the call, naming this bound. */
  listedKeys: 100_000,
  /** How often `wasi:keyvalue/atomics.increment` retries its compare-and-swap when another writer won. */
  incrementAttempts: 16,
  /** The deadline of one request (guest code plus its host calls), unless the workload sets its own. */
  requestTimeoutMs: 5000,
  /** The cap on each workload instance's linear memory, unless the workload sets its own. */
  memoryBytes: 256 * 1024 * 1024,
  /**
   * The most requests one async workload worker serves at once (`--workload-mode async`): its most instances,
   * each with its own linear memory (made on demand, kept once made).
   */
  asyncInstancesPerWorker: 16,
} as const;
