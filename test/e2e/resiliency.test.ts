/**
 * Resiliency resources on a real sidecar: the inbound retry policy of a pub/sub component (count, spacing,
 * status matching), its circuit breaker (no deliveries while open, all delivered once the app recovers),
 * hot reload of a policy, a bad file refused with the field named, and an outbound circuit breaker on a
 * Redis state store whose server goes away.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { PrivateBroker } from '../helpers/private-broker.js';
import { waitUntil } from '../helpers/wait.js';

function resiliencyYaml(fixedRetries: number): string {
  return `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: policies
scopes: [resilient]
spec:
  policies:
    retries:
      fixed: { policy: constant, duration: 150ms, maxRetries: ${fixedRetries} }
      only503: { policy: constant, duration: 50ms, maxRetries: 2, matching: { httpStatusCodes: "503" } }
      never: { maxRetries: 0 }
    circuitBreakers:
      appDown: { maxRequests: 1, timeout: 2s, trip: consecutiveFailures >= 2 }
  targets:
    components:
      events: { inbound: { retry: fixed } }
      strict: { inbound: { retry: only503 } }
      guarded: { inbound: { retry: never, circuitBreaker: appDown } }
`;
}

function subscription(pubsub: string, topic: string, route: string, deadLetterTopic?: string): string {
  return `---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: ${pubsub}-${topic}
spec:
  pubsubname: ${pubsub}
  topic: ${topic}
  routes: { default: ${route} }
${deadLetterTopic ? `  deadLetterTopic: ${deadLetterTopic}\n` : ''}`;
}

describe('resiliency: pub/sub inbound policies', () => {
  let app: SubscriberApp;
  let sc: Sidecar;
  let dir: string;
  const failing = new Set<string>(['/fail', '/strict']);
  let strictStatus = 500;

  before(async () => {
    dir = tempDir('resiliency');
    for (const name of ['events', 'strict', 'guarded']) writeComponent(dir, `${name}.yaml`, name, 'pubsub.in-memory');
    writeFileSync(join(dir, 'resiliency.yaml'), resiliencyYaml(2));
    writeFileSync(
      join(dir, 'subs.yaml'),
      [
        subscription('events', 'work', '/fail', 'dead'),
        subscription('events', 'dead', '/dead'),
        subscription('strict', 'work', '/strict', 'dead'),
        subscription('strict', 'dead', '/strict-dead'),
        subscription('guarded', 'work', '/guarded'),
      ].join(''),
    );
    app = await SubscriberApp.start();
    app.respond = (d) => {
      if (d.path === '/strict') return { status: strictStatus };
      if (failing.has(d.path)) return { status: 500 };
      return { status: 200 };
    };
    sc = await Sidecar.start({ appId: 'resilient', resourcesPath: dir, args: ['--app-port', String(app.port)] });
    await sc.waitForLog((l) => l.includes('subscribed to guarded'));
  });
  after(async () => {
    await sc?.stop();
    await app?.close();
  });

  const publish = async (pubsub: string, body: unknown) => {
    const r = await sc.json('POST', `/v1.0/publish/${pubsub}/work`, body);
    assert.equal(r.status, 204, r.text);
  };
  const of = (path: string, n: number) => app.on(path).filter((d) => (d.event?.data as { n?: number } | undefined)?.n === n);

  it('loads the resource and says so', async () => {
    const line = await sc.waitForLog((l) => l.includes('resiliency policies loaded from'));
    assert.match(line, /3 retry, 0 timeout, 1 circuit breaker policies; component targets: events \(inbound\), strict \(inbound\), guarded \(inbound\)/);
  });

  it('a named retry policy: 1 + maxRetries deliveries, duration apart, then the dead-letter topic', async () => {
    await publish('events', { n: 1 });
    await app.until(() => of('/dead', 1).length === 1, 10_000, 'dead letter');
    const tries = of('/fail', 1);
    assert.equal(tries.length, 3);
    for (let i = 1; i < tries.length; i++) {
      const gap = tries[i]!.at - tries[i - 1]!.at;
      assert.ok(gap >= 120, `retry ${i} came ${gap}ms after the previous try (policy: 150ms)`);
    }
  });

  it('matching.httpStatusCodes: a status outside the list is not retried; one inside is', async () => {
    strictStatus = 500;
    await publish('strict', { n: 2 });
    await app.until(() => of('/strict-dead', 2).length === 1, 10_000, 'dead letter');
    assert.equal(of('/strict', 2).length, 1);
    strictStatus = 503;
    await publish('strict', { n: 3 });
    await app.until(() => of('/strict-dead', 3).length === 1, 10_000, 'dead letter');
    assert.equal(of('/strict', 3).length, 3);
  });

  it('a circuit breaker: nothing is delivered while it is open, everything once the app is back', async () => {
    failing.add('/guarded');
    await publish('guarded', { n: 10 });
    await publish('guarded', { n: 11 });
    await app.until(() => app.on('/guarded').length >= 2, 10_000, 'two failed deliveries');
    const opened = Date.now();
    // The breaker is open now: these wait in the broker rather than go to the app.
    failing.delete('/guarded');
    for (const n of [12, 13, 14]) await publish('guarded', { n });
    await app.until(() => [10, 11, 12, 13, 14].every((n) => of('/guarded', n).length > 0), 15_000, 'every message delivered');
    const firstAfter = Math.min(...[12, 13, 14].map((n) => of('/guarded', n)[0]!.at));
    assert.ok(firstAfter - opened >= 1500, `first delivery after the breaker opened came ${firstAfter - opened}ms later (timeout: 2s)`);
    // Each that failed came back through the broker and succeeded. (Which two deliveries failed is the broker's
    // order: 10 and 11, or 10 twice when the broker re-sent it before sending 11.)
    for (const n of [10, 11]) {
      const tries = of('/guarded', n);
      if (tries.some((t) => t.at <= opened))
        assert.ok(
          tries.some((t) => t.at > opened),
          `message ${n} failed and was not delivered again`,
        );
    }
  });

  it('a changed policy applies without a restart; a bad file is refused naming the field', async () => {
    writeFileSync(join(dir, 'resiliency.yaml'), resiliencyYaml(0));
    await sc.waitForLog(
      (l) => l.includes('resiliency policies loaded from') && sc.logs.filter((x) => x.includes('resiliency policies loaded from')).length >= 2,
      5000,
    );
    await publish('events', { n: 4 });
    await app.until(() => of('/dead', 4).length === 1, 10_000, 'dead letter');
    assert.equal(of('/fail', 4).length, 1);

    writeFileSync(
      join(dir, 'bad.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: { name: bad }
spec:
  policies:
    retries:
      r: { policy: constant, duration: fast }
`,
    );
    const line = await sc.waitForLog((l) => l.includes('bad.yaml') && l.includes('refused'), 5000);
    assert.match(line, /spec\.policies\.retries\.r\.duration: must be a duration such as 5s/);
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
    await publish('events', { n: 5 });
    await app.until(() => of('/dead', 5).length === 1, 10_000, 'dead letter');
    assert.equal(of('/fail', 5).length, 1, 'the last good policy stays in force');
  });
});

describe('resiliency: state outbound circuit breaker', () => {
  let sc: Sidecar;
  let redis: PrivateBroker;

  before(async () => {
    redis = await PrivateBroker.start('redis');
    const dir = tempDir('resiliency-state');
    writeComponent(dir, 'cache.yaml', 'cache', 'state.redis', { redisHost: redis.address });
    writeFileSync(
      join(dir, 'resiliency.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: store
spec:
  policies:
    circuitBreakers:
      DefaultStatestoreComponentOutboundCircuitBreakerPolicy: { timeout: 3s, trip: consecutiveFailures >= 2 }
`,
    );
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
    await redis?.stop();
  });

  it('opens after the trip, refuses at once while open, and closes once the store answers again', async () => {
    assert.equal((await sc.json('POST', '/v1.0/state/cache', [{ key: 'k', value: 'v' }])).status, 204);
    const back = redis.restart(6000);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 2; i++) {
      const r = await sc.json('GET', '/v1.0/state/cache/k');
      assert.equal(r.status, 500);
      assert.doesNotMatch(r.text, /circuit breaker/);
    }
    const t0 = Date.now();
    const refused = await sc.json('GET', '/v1.0/state/cache/k');
    assert.equal(refused.status, 500);
    assert.equal((refused.body as { errorCode: string }).errorCode, 'ERR_STATE_GET');
    assert.match(refused.text, /circuit breaker is open/);
    assert.ok(Date.now() - t0 < 200, `refused in ${Date.now() - t0}ms`);
    await back;
    let last: { status: number; text: string } | undefined;
    await waitUntil(async () => (last = await sc.json('GET', '/v1.0/state/cache/k')).status === 200, 'the store to answer again', 15_000);
    assert.equal(last!.text, '"v"', 'the private Redis keeps its data (AOF) across the restart');
  });
});

describe('resiliency: a short state outbound timeout', () => {
  let sc: Sidecar;
  const key = `short-timeout-${process.pid}-${Date.now()}`;

  before(async () => {
    const dir = tempDir('resiliency-short');
    writeComponent(dir, 'quick.yaml', 'quick', 'state.redis', { redisHost: '127.0.0.1:6379' });
    writeFileSync(
      join(dir, 'resiliency.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: quick
spec:
  policies:
    timeouts:
      short: 45ms
  targets:
    components:
      quick: { outbound: { timeout: short } }
`,
    );
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
  });

  it('a 45 ms timeout (under the 50 ms deadline margin) still lets writes and reads reach Redis', async () => {
    // A loaded machine may miss 45 ms now and then; before the margin shrank with the budget, every call
    // failed as "not attempted".
    const statuses: number[] = [];
    let read: { status: number; text: string } | undefined;
    for (let i = 0; i < 5; i++) {
      statuses.push((await sc.json('POST', '/v1.0/state/quick', [{ key, value: 'v' }])).status);
      read = await sc.json('GET', `/v1.0/state/quick/${key}`);
      if (read.status === 200) break;
    }
    assert.ok(statuses.includes(204), `writes: ${statuses.join(',')}`);
    assert.deepEqual([read!.status, read!.text], [200, '"v"']);
    await sc.json('DELETE', `/v1.0/state/quick/${key}`);
  });
});
