/**
 * Resiliency: the resource parser (problems name the field), back-off schedules, the circuit breaker's
 * state machine (on a fake clock), the policy runner, and which policy governs which component operation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResources, type ResiliencyResource } from '../../host/src/resources/resources.js';
import { parseDuration } from '../../host/src/duration.js';
import { Backoff, retriesStatus } from '../../host/src/blocks/resiliency/backoff.js';
import { CircuitBreaker } from '../../host/src/blocks/resiliency/circuit-breaker.js';
import { CircuitOpenError, Policy, TimeoutError } from '../../host/src/blocks/resiliency/policy.js';
import { Resiliency } from '../../host/src/blocks/resiliency/resiliency.js';

const HEAD = 'apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\n';

function parse(body: string): ResiliencyResource {
  const { resources, problems } = parseResources('r.yaml', HEAD + body);
  assert.deepEqual(problems, []);
  return resources[0] as ResiliencyResource;
}

function problem(body: string): { field: string; reason: string } {
  const { resources, problems } = parseResources('r.yaml', HEAD + body);
  assert.equal(resources.length, 0);
  assert.equal(problems.length, 1);
  return problems[0]!;
}

describe('Resiliency resource', () => {
  it('reads policies and targets with Dapr defaults', () => {
    const r = parse(`scopes: [orders]
spec:
  policies:
    timeouts:
      general: 5s
    retries:
      fixed: { policy: constant, duration: 200ms, maxRetries: 3, matching: { httpStatusCodes: "429,500-599" } }
      grow: { policy: exponential, maxInterval: 15s }
    circuitBreakers:
      cb: { maxRequests: 2, interval: 8s, timeout: 45s, trip: consecutiveFailures > 8 }
      plain: {}
  targets:
    components:
      pubsub:
        inbound: { retry: fixed, timeout: general, circuitBreaker: cb }
        outbound: { timeout: 2s }
    apps:
      billing: { retry: grow }
`);
    assert.deepEqual(r.scopes, ['orders']);
    assert.equal(r.timeouts.general, 5000);
    assert.deepEqual(r.retries.fixed, {
      policy: 'constant',
      durationMs: 200,
      maxIntervalMs: 60_000,
      maxRetries: 3,
      httpStatusCodes: [
        [429, 429],
        [500, 599],
      ],
      grpcStatusCodes: undefined,
    });
    assert.deepEqual(r.retries.grow, {
      policy: 'exponential',
      durationMs: 500,
      maxIntervalMs: 15_000,
      maxRetries: -1,
      httpStatusCodes: undefined,
      grpcStatusCodes: undefined,
    });
    assert.deepEqual(r.circuitBreakers.cb, { maxRequests: 2, intervalMs: 8000, timeoutMs: 45_000, trip: 'consecutiveFailures > 8' });
    assert.deepEqual(r.circuitBreakers.plain, { maxRequests: 1, intervalMs: 0, timeoutMs: 60_000, trip: 'consecutiveFailures > 5' });
    assert.deepEqual(r.components.pubsub!.inbound, { retry: 'fixed', timeout: 'general', circuitBreaker: 'cb' });
    assert.equal(r.components.pubsub!.outbound!.timeout, '2s');
    assert.equal(r.apps.billing!.retry, 'grow');
  });

  it('refuses a bad file naming the field and the reason', () => {
    assert.deepEqual(problem('spec:\n  policies:\n    timeouts:\n      general: soon\n'), {
      file: 'r.yaml',
      field: 'spec.policies.timeouts.general',
      reason: 'must be a duration such as 5s, 250ms or 1m30s, got "soon"',
    });
    assert.equal(problem('spec:\n  policies:\n    retries:\n      x: { policy: linear }\n').field, 'spec.policies.retries.x.policy');
    assert.equal(problem('spec:\n  policies:\n    retries:\n      x: { maxRetries: -2 }\n').field, 'spec.policies.retries.x.maxRetries');
    assert.match(
      problem('spec:\n  policies:\n    retries:\n      x: { matching: { httpStatusCodes: "500-700" } }\n').reason,
      /'500-700' is not a code or range of codes between 100 and 599/,
    );
    const trip = problem('spec:\n  policies:\n    circuitBreakers:\n      cb: { trip: "consecutiveFailure > 5" }\n');
    assert.equal(trip.field, 'spec.policies.circuitBreakers.cb.trip');
    assert.match(trip.reason, /Unknown variable: consecutiveFailure/);
    assert.match(problem('spec:\n  policies:\n    circuitBreakers:\n      cb: { trip: "consecutiveFailures" }\n').reason, /not bool/);
    const ref = problem('spec:\n  policies:\n    retries:\n      a: {}\n  targets:\n    components:\n      s:\n        outbound: { retry: b }\n');
    assert.deepEqual([ref.field, ref.reason], ['spec.targets.components.s.outbound.retry', "names no retry policy 'b' (defined: a)"]);
    assert.equal(problem('spec: {}\nscopes: orders\n').field, 'scopes');
  });

  it('Go durations', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('5'), undefined);
    assert.equal(parseDuration('5s and more'), undefined);
    assert.equal(parseDuration('-5s'), undefined);
  });
});

describe('back-off', () => {
  const spec = (o: object) => ({ policy: 'constant' as const, durationMs: 100, maxIntervalMs: 1000, maxRetries: 3, ...o });

  it('constant: the same wait, maxRetries times', () => {
    const b = new Backoff(spec({}));
    assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [100, 100, 100, undefined]);
    assert.equal(new Backoff(spec({ maxRetries: 0 })).next(), undefined);
    const forever = new Backoff(spec({ maxRetries: -1 }));
    for (let i = 0; i < 1000; i++) assert.equal(forever.next(), 100);
  });

  it('exponential: x1.5 with +-50% jitter, capped at maxInterval', () => {
    const mid = new Backoff(spec({ policy: 'exponential', durationMs: 500, maxIntervalMs: 2000, maxRetries: -1 }), () => 0.5);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map(() => mid.next()),
      [500, 750, 1125, 1687.5, 2000],
    );
    const low = new Backoff(spec({ policy: 'exponential', durationMs: 500, maxIntervalMs: 2000, maxRetries: 2 }), () => 0);
    assert.deepEqual([low.next(), low.next(), low.next()], [250, 375, undefined]);
  });

  it('status matching', () => {
    const s = spec({
      httpStatusCodes: [
        [429, 429],
        [500, 599],
      ],
    });
    assert.deepEqual(
      [429, 500, 503, 400, 404].map((c) => retriesStatus(s, c)),
      [true, true, true, false, false],
    );
    assert.equal(retriesStatus(spec({}), 400), true);
  });
});

describe('circuit breaker', () => {
  it('opens on trip, refuses while open, lets maxRequests trials through half-open, closes after them', () => {
    let now = 0;
    const b = new CircuitBreaker('cb', { maxRequests: 2, intervalMs: 0, timeoutMs: 1000, trip: 'consecutiveFailures >= 3' }, () => now);
    for (let i = 0; i < 2; i++) {
      assert.ok(b.allow());
      b.record(false);
    }
    assert.equal(b.state, 'closed');
    assert.ok(b.allow());
    b.record(false);
    assert.equal(b.state, 'open');
    assert.equal(b.allow(), false);
    assert.equal(b.openForMs(), 1000);
    now = 999;
    assert.equal(b.allow(), false);
    now = 1000;
    assert.equal(b.state, 'half-open');
    assert.ok(b.allow());
    assert.ok(b.allow());
    assert.equal(b.allow(), false, 'only maxRequests trials');
    b.record(true);
    assert.equal(b.state, 'half-open');
    b.record(true);
    assert.equal(b.state, 'closed');
  });

  it('a failed trial opens it again; interval clears the counts while closed', () => {
    let now = 0;
    const b = new CircuitBreaker('cb', { maxRequests: 1, intervalMs: 100, timeoutMs: 50, trip: 'consecutiveFailures > 1' }, () => now);
    b.allow();
    b.record(false);
    now = 100; // counts cleared
    b.allow();
    b.record(false);
    assert.equal(b.state, 'closed');
    b.allow();
    b.record(false);
    assert.equal(b.state, 'open');
    now = 150;
    assert.ok(b.allow());
    b.record(false);
    assert.equal(b.state, 'open');
    assert.equal(b.openForMs(), 50);
  });
});

describe('policy runner', () => {
  const transient = () => false;

  it('retries transient failures per the back-off, then gives up with the last error', async () => {
    let calls = 0;
    const p = new Policy({ policy: 'constant', durationMs: 1, maxIntervalMs: 1, maxRetries: 2 }, undefined, undefined);
    await assert.rejects(
      p.run(async () => {
        calls++;
        throw new Error(`fail ${calls}`);
      }, transient),
      /fail 3/,
    );
    assert.equal(calls, 3);
    calls = 0;
    assert.equal(await p.run(async () => (++calls < 3 ? Promise.reject(new Error('x')) : 'ok'), transient), 'ok');
  });

  it('does not retry permanent errors, nor count them against the breaker', async () => {
    let calls = 0;
    const breaker = new CircuitBreaker('cb', { maxRequests: 1, intervalMs: 0, timeoutMs: 60_000, trip: 'consecutiveFailures > 0' });
    const p = new Policy({ policy: 'constant', durationMs: 1, maxIntervalMs: 1, maxRetries: 5 }, undefined, breaker);
    await assert.rejects(
      p.run(
        async () => {
          calls++;
          throw new Error('etag');
        },
        () => true,
      ),
      /etag/,
    );
    assert.equal(calls, 1);
    assert.equal(breaker.state, 'closed');
  });

  it('times out an attempt, and an open breaker refuses without calling', async () => {
    const breaker = new CircuitBreaker('cb', { maxRequests: 1, intervalMs: 0, timeoutMs: 60_000, trip: 'consecutiveFailures > 0' });
    const p = new Policy(undefined, 20, breaker);
    await assert.rejects(
      p.run(() => new Promise((r) => setTimeout(r, 500)), transient),
      TimeoutError,
    );
    let called = false;
    await assert.rejects(
      p.run(async () => {
        called = true;
      }, transient),
      (e: unknown) => e instanceof CircuitOpenError && /circuit breaker is open/.test(e.message),
    );
    assert.equal(called, false);
  });
});

describe('which policy applies', () => {
  const res = parse(`spec:
  policies:
    timeouts: { DefaultTimeoutPolicy: 9s, short: 1s }
    retries:
      DefaultRetryPolicy: { maxRetries: 1 }
      DefaultComponentInboundRetryPolicy: { maxRetries: 2 }
      DefaultPubsubComponentInboundRetryPolicy: { maxRetries: 3 }
      named: { maxRetries: 4 }
    circuitBreakers: { DefaultStatestoreComponentOutboundCircuitBreakerPolicy: {} }
  targets:
    components:
      orders: { inbound: { retry: named, timeout: short } }
`);

  it('a named target first, then the most specific default, per kind', () => {
    const r = new Resiliency('app');
    r.apply([res]);
    const named = r.component('orders', 'pubsub', 'inbound');
    assert.deepEqual([named.retry?.maxRetries, named.timeoutMs], [4, 1000]);
    assert.equal(r.component('other', 'pubsub', 'inbound').retry?.maxRetries, 3);
    assert.equal(r.component('other', 'bindings', 'inbound').retry?.maxRetries, 2);
    assert.equal(r.component('other', 'pubsub', 'outbound').retry?.maxRetries, 1);
    assert.equal(r.component('other', 'pubsub', 'outbound').timeoutMs, 9000);
    assert.ok(r.component('store', 'state', 'outbound').breaker);
    assert.equal(r.component('store', 'pubsub', 'outbound').breaker, undefined);
  });

  it("falls back to the caller's default; resources scoped to other apps do not apply", () => {
    const r = new Resiliency('app');
    const fallback = { retry: { policy: 'constant' as const, durationMs: 250, maxIntervalMs: 60_000, maxRetries: 5 } };
    assert.ok(r.component('x', 'state', 'outbound').none);
    assert.equal(r.component('x', 'pubsub', 'inbound', fallback).retry?.maxRetries, 5);
    r.apply([{ ...res, scopes: ['someone-else'] }]);
    assert.ok(r.component('orders', 'pubsub', 'outbound').none);
    r.apply([{ ...res, scopes: ['app'] }]);
    assert.equal(r.component('orders', 'pubsub', 'inbound', fallback).retry?.maxRetries, 4);
  });

  it('a breaker keeps its state across a reload that does not change it', () => {
    const r = new Resiliency('app');
    r.apply([res]);
    const b = r.component('store', 'state', 'outbound').breaker!;
    for (let i = 0; i < 6; i++) {
      b.allow();
      b.record(false);
    }
    assert.equal(b.state, 'open');
    r.apply([{ ...res, timeouts: { ...res.timeouts, short: 2000 } }]);
    assert.equal(r.component('store', 'state', 'outbound').breaker, b);
  });
});
