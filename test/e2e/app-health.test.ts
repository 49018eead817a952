/**
 * App health checks (`--enable-app-health-check`, spec 1.14 "App health"), against a real `mortar run` and a
 * real app whose `GET /healthz` the test flips: the app's configuration and subscriptions are read only once
 * it is first healthy; while it is unhealthy, deliveries pause (messages stay at the broker) and resume,
 * none lost, when a probe succeeds again (pub/sub and input bindings alike); `/v1.0/healthz` is about the
 * sidecar, as daprd's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { REDIS_HOST, Sidecar, TEST_COMPONENTS, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { waitUntil } from '../helpers/wait.js';

const run = randomUUID().slice(0, 8);
/** One in-process broker and one real one (Redis streams): the pause is the delivery loop's, for every broker. */
const BROKERS = [
  { name: 'mem', topic: `health-mem-${run}` },
  { name: 'rds', topic: `health-rds-${run}` },
];

describe('app health checks', () => {
  let app: SubscriberApp;
  let sc: Sidecar;
  before(async () => {
    const res = tempDir('app-health');
    writeComponent(res, 'mem.yaml', 'mem', 'pubsub.in-memory');
    writeComponent(res, 'rds.yaml', 'rds', 'pubsub.redis', {
      redisHost: REDIS_HOST,
      consumerID: `health-${run}`,
      redeliverInterval: '1s',
      processingTimeout: '5s',
    });
    // An input binding whose events are the data of its own `emit` operation (the in-memory test component).
    copyFileSync(join(TEST_COMPONENTS, 'bindings.echo-fixture.wasm'), join(res, 'bindings.echo-fixture.wasm'));
    writeComponent(res, 'ticks.yaml', 'ticks', 'bindings.echo-fixture', { events: '0', direction: 'input, output', route: '/in/ticks' });
    const appPort = await freePort();
    app = await SubscriberApp.start(
      BROKERS.map((b) => ({ pubsubname: b.name, topic: b.topic, route: `/in/${b.name}` })),
      appPort,
    );
    app.appConfig = { entities: [] };
    app.healthy = false;
    sc = await Sidecar.start({
      resourcesPath: res,
      args: [
        '--app-port',
        String(appPort),
        '--enable-app-health-check',
        '--app-health-probe-interval',
        '1',
        '--app-health-probe-timeout',
        '300',
        '--app-health-threshold',
        '2',
      ],
    });
  });
  after(async () => {
    if (process.env.MORTAR_TEST_DEBUG) console.log(sc?.logs.join('\n'));
    await sc?.stop();
    await app?.close();
  });

  const publish = async (pubsub: string, topic: string, data: string) => {
    const r = await sc.fetch(`/v1.0/publish/${pubsub}/${topic}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: data });
    assert.equal(r.status, 204, await r.text());
  };
  const dataOn = (name: string) => app.on(`/in/${name}`).map((d) => d.event?.data);
  const paths = () => app.calls.map((c) => `${c.method} ${c.path}`);

  it('before the app is first healthy: /v1.0/healthz is 204 once its port accepts connections (as daprd), probes run, and neither /dapr/config nor /dapr/subscribe is read', async () => {
    await waitUntil(async () => (await sc.fetch('/v1.0/healthz')).status === 204, '/v1.0/healthz 204', 15_000);
    await waitUntil(() => app.calls.filter((c) => c.path === '/healthz').length >= 2, 'two health probes', 5000);
    assert.ok(!paths().includes('GET /dapr/config') && !paths().includes('GET /dapr/subscribe'), paths().join(', '));
    assert.ok(
      sc.logs.some((l) => l.includes('waiting for the app to report healthy on GET /healthz')),
      'the wait is logged',
    );
  });

  it('the first healthy probe is followed by GET /dapr/config, then GET /dapr/subscribe, then deliveries', async () => {
    const flippedAt = Date.now();
    app.healthy = true;
    await sc.waitForLog((l) => l.includes('subscriptions established at their brokers'), 15_000);
    const init = paths().filter((p) => p !== 'GET /healthz');
    assert.deepEqual(init, ['GET /dapr/config', 'GET /dapr/subscribe']);
    const healthyProbe = app.calls.findIndex((c) => c.path === '/healthz' && c.at >= flippedAt);
    assert.ok(healthyProbe >= 0 && healthyProbe < paths().indexOf('GET /dapr/config'), 'a healthy probe came first');
    for (const b of BROKERS) await publish(b.name, b.topic, 'first');
    await app.until(() => BROKERS.every((b) => dataOn(b.name).includes('first')), 15_000, 'the first messages');
  });

  it('the metadata API reports the health settings as daprd (durations as Go writes them)', async () => {
    const md = (await sc.json('GET', '/v1.0/metadata')).body as { appConnectionProperties: Record<string, unknown> };
    assert.deepEqual(md.appConnectionProperties.health, {
      healthCheckPath: '/healthz',
      healthProbeInterval: '1s',
      healthProbeTimeout: '300ms',
      healthThreshold: 2,
    });
  });

  it('threshold failed probes pause deliveries: messages published meanwhile stay at the broker and all arrive, once each, after a probe succeeds again; /v1.0/healthz stays 204', async () => {
    app.healthy = false;
    await sc.waitForLog((l) => l.includes('app is unhealthy: 2 consecutive GET /healthz probes failed'), 10_000);
    const before = app.deliveries.length;
    const sent = Array.from({ length: 5 }, (_, i) => `while-unhealthy-${i}`);
    for (const b of BROKERS) for (const d of sent) await publish(b.name, b.topic, d);
    for (const d of sent) {
      const r = await sc.fetch('/v1.0/bindings/ticks', { method: 'POST', body: JSON.stringify({ operation: 'emit', data: d }) });
      assert.ok(r.status === 200 || r.status === 204, `emit: ${r.status} ${await r.text()}`);
    }
    // Longer than a long poll and several probe intervals: nothing reaches the app.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(
      app.deliveries.length,
      before,
      `no delivery while unhealthy: ${app.deliveries
        .slice(before)
        .map((d) => d.body)
        .join(', ')}`,
    );
    assert.equal((await sc.fetch('/v1.0/healthz')).status, 204, 'an unhealthy app does not make the sidecar unready');

    app.healthy = true;
    const recoveredAt = Date.now();
    const healthyLines = () => sc.logs.filter((l) => l.includes('app is healthy (GET /healthz answered 2xx)')).length;
    await waitUntil(() => healthyLines() === 2, 'the second "app is healthy" log line', 5000);
    await app.until(() => BROKERS.every((b) => sent.every((d) => dataOn(b.name).includes(d))), 15_000, 'every message published while unhealthy');
    for (const b of BROKERS) {
      const got = dataOn(b.name).filter((d) => typeof d === 'string' && d.startsWith('while-unhealthy-'));
      assert.deepEqual([...got].sort(), sent, `${b.name}: each message exactly once`);
    }
    // The input binding's events (the JSON strings emitted) arrive too, once each, only after the recovery.
    const ticks = () => app.on('/in/ticks').map((d) => d.body);
    await app.until(() => sent.every((d) => ticks().includes(JSON.stringify(d))), 15_000, 'every input-binding event emitted while unhealthy');
    assert.deepEqual(
      [...ticks()].sort(),
      sent.map((d) => JSON.stringify(d)),
      'ticks: each event exactly once',
    );
    assert.ok(
      app.deliveries.slice(before).every((d) => d.at >= recoveredAt),
      'delivered only after the app recovered',
    );
  });
});
