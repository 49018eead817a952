/**
 * Dapr `Resiliency` resources (`dapr.io/v1alpha1`): named timeout, retry and circuit-breaker policies, and the
 * targets (components inbound and outbound, apps, actors) they apply to. Parsed and checked here, with the
 * field at fault named, so that a bad file is refused as a whole before anything uses it.
 */
import { Environment } from '@marcbachmann/cel-js';
import { parseDuration } from '../duration.js';
import { Problem, isObject } from './resource-problem.js';

export interface RetrySpec {
  readonly policy: 'constant' | 'exponential';
  /** constant: the wait between retries (Dapr's default 5s); exponential: the first wait (default 500ms). */
  readonly durationMs: number;
  /** exponential: the longest wait (default 60s). */
  readonly maxIntervalMs: number;
  /** -1: no limit (Dapr's default); 0: no retry. */
  readonly maxRetries: number;
  /** `matching.httpStatusCodes`: only these statuses are retried (undefined: every retriable failure). */
  readonly httpStatusCodes?: readonly StatusRange[];
  /** `matching.gRPCStatusCodes`: matched against the status of a gRPC app's error (`retriesGrpcStatus`). */
  readonly grpcStatusCodes?: readonly StatusRange[];
}

export type StatusRange = readonly [from: number, to: number];

export interface CircuitBreakerSpec {
  /** Requests let through while half-open (default 1). */
  readonly maxRequests: number;
  /** While closed, counts are cleared this often (0: never). */
  readonly intervalMs: number;
  /** How long the breaker stays open before it lets a trial request through (default 60s). */
  readonly timeoutMs: number;
  /** CEL over `requests`, `totalSuccesses`, `totalFailures`, `consecutiveSuccesses`, `consecutiveFailures`. */
  readonly trip: string;
}

/** The policies one target uses, by name (a timeout may also be a literal duration). */
export interface TargetPolicies {
  readonly timeout?: string;
  readonly retry?: string;
  readonly circuitBreaker?: string;
}

export interface ResiliencyResource {
  readonly kind: 'Resiliency';
  readonly name: string;
  readonly file: string;
  readonly scopes: readonly string[];
  readonly timeouts: Readonly<Record<string, number>>;
  readonly retries: Readonly<Record<string, RetrySpec>>;
  readonly circuitBreakers: Readonly<Record<string, CircuitBreakerSpec>>;
  readonly components: Readonly<Record<string, { readonly inbound?: TargetPolicies; readonly outbound?: TargetPolicies }>>;
  readonly apps: Readonly<Record<string, TargetPolicies>>;
  readonly actors: Readonly<Record<string, TargetPolicies>>;
}

/** The variables a `trip` expression may read. */
export const TRIP_VARIABLES = ['requests', 'totalSuccesses', 'totalFailures', 'consecutiveSuccesses', 'consecutiveFailures'] as const;
const DEFAULT_TRIP = 'consecutiveFailures > 5';

const cel = new Environment();
for (const v of TRIP_VARIABLES) cel.registerVariable(v, 'int');

/** Compiles a `trip` expression; throws a readable message when it is not a boolean over the counts. */
export function compileTrip(expr: string): (counts: Record<(typeof TRIP_VARIABLES)[number], bigint>) => unknown {
  const checked = cel.check(expr) as { valid: boolean; type?: string; error?: Error };
  if (!checked.valid) throw new Error(checked.error?.message.split('\n')[0] ?? 'does not compile');
  if (checked.type !== 'bool') throw new Error(`is of type ${checked.type}, not bool`);
  return cel.parse(expr) as unknown as (counts: Record<string, bigint>) => unknown;
}

function duration(v: unknown, field: string): number {
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined) throw new Problem(field, `must be a duration such as 5s, 250ms or 1m30s, got ${JSON.stringify(v)}`);
  return ms;
}

function integer(v: unknown, field: string, min: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw new Problem(field, `must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function mapping(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new Problem(field, 'must be a mapping');
  return v;
}

/** `"429,500-599"` as ranges; every code must lie within `[lo, hi]`. */
function statusRanges(v: unknown, field: string, lo: number, hi: number): StatusRange[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const text = String(v);
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const from = m ? Number(m[1]) : NaN;
    const to = m?.[2] !== undefined ? Number(m[2]) : from;
    if (!m || from < lo || to > hi || from > to) throw new Problem(field, `'${part.trim()}' is not a code or range of codes between ${lo} and ${hi}`);
    return [from, to] as const;
  });
}

function retrySpec(v: unknown, at: string): RetrySpec {
  if (!isObject(v)) throw new Problem(at, 'must be a mapping with policy, duration, maxInterval, maxRetries');
  const policy = v.policy === undefined ? 'constant' : v.policy;
  if (policy !== 'constant' && policy !== 'exponential') throw new Problem(`${at}.policy`, `must be constant or exponential, got ${JSON.stringify(policy)}`);
  const matching = mapping(v.matching, `${at}.matching`);
  return {
    policy,
    durationMs: v.duration === undefined ? (policy === 'constant' ? 5000 : 500) : duration(v.duration, `${at}.duration`),
    maxIntervalMs: v.maxInterval === undefined ? 60_000 : duration(v.maxInterval, `${at}.maxInterval`),
    maxRetries: v.maxRetries === undefined ? -1 : integer(v.maxRetries, `${at}.maxRetries`, -1),
    httpStatusCodes: statusRanges(matching.httpStatusCodes, `${at}.matching.httpStatusCodes`, 100, 599),
    grpcStatusCodes: statusRanges(matching.gRPCStatusCodes, `${at}.matching.gRPCStatusCodes`, 0, 16),
  };
}

function breakerSpec(v: unknown, at: string): CircuitBreakerSpec {
  if (!isObject(v)) throw new Problem(at, 'must be a mapping with maxRequests, interval, timeout, trip');
  const trip = v.trip === undefined ? DEFAULT_TRIP : String(v.trip);
  try {
    compileTrip(trip);
  } catch (err) {
    throw new Problem(`${at}.trip`, `'${trip}' is not a boolean CEL expression over ${TRIP_VARIABLES.join(', ')}: ${(err as Error).message}`);
  }
  return {
    maxRequests: v.maxRequests === undefined ? 1 : integer(v.maxRequests, `${at}.maxRequests`, 1),
    intervalMs: v.interval === undefined ? 0 : duration(v.interval, `${at}.interval`),
    timeoutMs: v.timeout === undefined ? 60_000 : duration(v.timeout, `${at}.timeout`),
    trip,
  };
}

export function toResiliency(file: string, name: string, doc: Record<string, unknown>): ResiliencyResource {
  if (!isObject(doc.spec)) throw new Problem('spec', 'is required (policies and targets)');
  const spec = doc.spec;
  const policies = mapping(spec.policies, 'spec.policies');
  const timeouts: Record<string, number> = {};
  for (const [k, v] of Object.entries(mapping(policies.timeouts, 'spec.policies.timeouts'))) timeouts[k] = duration(v, `spec.policies.timeouts.${k}`);
  const retries: Record<string, RetrySpec> = {};
  for (const [k, v] of Object.entries(mapping(policies.retries, 'spec.policies.retries'))) retries[k] = retrySpec(v, `spec.policies.retries.${k}`);
  const circuitBreakers: Record<string, CircuitBreakerSpec> = {};
  for (const [k, v] of Object.entries(mapping(policies.circuitBreakers, 'spec.policies.circuitBreakers'))) {
    circuitBreakers[k] = breakerSpec(v, `spec.policies.circuitBreakers.${k}`);
  }

  const target = (v: unknown, at: string): TargetPolicies => {
    const t = mapping(v, at);
    const ref = (key: 'timeout' | 'retry' | 'circuitBreaker', known: Record<string, unknown>): string | undefined => {
      const r = t[key];
      if (r === undefined || r === null || r === '') return undefined;
      if (typeof r !== 'string') throw new Problem(`${at}.${key}`, `must be the name of a policy, got ${JSON.stringify(r)}`);
      // A timeout may be given as a duration instead of a policy name, as Dapr allows.
      if (!(r in known) && !(key === 'timeout' && parseDuration(r) !== undefined)) {
        const names = Object.keys(known);
        throw new Problem(`${at}.${key}`, `names no ${key} policy '${r}' (defined: ${names.length > 0 ? names.join(', ') : 'none'})`);
      }
      return r;
    };
    return { timeout: ref('timeout', timeouts), retry: ref('retry', retries), circuitBreaker: ref('circuitBreaker', circuitBreakers) };
  };

  const targets = mapping(spec.targets, 'spec.targets');
  const components: Record<string, { inbound?: TargetPolicies; outbound?: TargetPolicies }> = {};
  for (const [k, v] of Object.entries(mapping(targets.components, 'spec.targets.components'))) {
    const c = mapping(v, `spec.targets.components.${k}`);
    components[k] = {
      inbound: c.inbound === undefined ? undefined : target(c.inbound, `spec.targets.components.${k}.inbound`),
      outbound: c.outbound === undefined ? undefined : target(c.outbound, `spec.targets.components.${k}.outbound`),
    };
  }
  const named = (v: unknown, at: string): Record<string, TargetPolicies> => {
    const out: Record<string, TargetPolicies> = {};
    for (const [k, t] of Object.entries(mapping(v, at))) out[k] = target(t, `${at}.${k}`);
    return out;
  };
  const scopes = doc.scopes ?? [];
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string')) throw new Problem('scopes', 'must be a list of app ids');
  return {
    kind: 'Resiliency',
    name,
    file,
    scopes: scopes as string[],
    timeouts,
    retries,
    circuitBreakers,
    components,
    apps: named(targets.apps, 'spec.targets.apps'),
    actors: named(targets.actors, 'spec.targets.actors'),
  };
}
