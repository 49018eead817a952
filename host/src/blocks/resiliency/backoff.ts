/**
 * The waits between retries of one operation, as a Dapr retry policy describes them.
 */
import type { RetrySpec, StatusRange } from '../../resources/resiliency-resource.js';

/** Exponential back-off as Dapr computes it (cenkalti/backoff defaults): x1.5 per retry, +-50% jitter. */
const MULTIPLIER = 1.5;
const RANDOMIZATION = 0.5;

/** One operation's retries: `next()` gives the wait before the next attempt, or undefined when none is left. */
export class Backoff {
  #retries = 0;
  #interval: number;

  constructor(
    readonly spec: RetrySpec,
    private readonly random: () => number = Math.random,
  ) {
    this.#interval = spec.durationMs;
  }

  next(): number | undefined {
    if (this.spec.maxRetries >= 0 && this.#retries >= this.spec.maxRetries) return undefined;
    this.#retries++;
    if (this.spec.policy === 'constant') return this.spec.durationMs;
    const current = Math.min(this.#interval, this.spec.maxIntervalMs);
    this.#interval = Math.min(this.#interval * MULTIPLIER, this.spec.maxIntervalMs);
    const delta = RANDOMIZATION * current;
    return Math.min(this.spec.maxIntervalMs, current - delta + this.random() * 2 * delta);
  }
}

/** Whether an HTTP status is one the policy retries (`matching.httpStatusCodes`; no list: every failure). */
export function retriesStatus(spec: RetrySpec, status: number): boolean {
  return spec.httpStatusCodes === undefined || inRanges(spec.httpStatusCodes, status);
}

/**
 * Whether a gRPC status code (a gRPC app's error) is one the policy retries (`matching.gRPCStatusCodes`; no
 * list: every failure), as daprd's `RetryConditionMatch` for a `CodeError` of a gRPC call.
 */
export function retriesGrpcStatus(spec: RetrySpec, code: number): boolean {
  return spec.grpcStatusCodes === undefined || inRanges(spec.grpcStatusCodes, code);
}

function inRanges(ranges: readonly StatusRange[], code: number): boolean {
  return ranges.some(([from, to]) => code >= from && code <= to);
}
