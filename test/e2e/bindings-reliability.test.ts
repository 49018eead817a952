/**
 * Input binding reliability against real brokers: an app that is down or answers 500 loses no message the
 * broker holds (RabbitMQ and MQTT acknowledge a message only after the app's 2xx), also across `kill -9` of
 * the sidecar; MQTT hands a slow app as many messages at once as the broker keeps in flight; and a cron
 * binding fires on time (the drift is measured and printed) and never twice for one tick. Needs the
 * built-in binding components (`dist/components/bindings.{rabbitmq,mqtt3,cron}.wasm`): each scenario is
 * skipped, saying so, while its component is not built.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AMQP_URL, BUILTIN_COMPONENTS, MQTT_URL, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { BindingApp } from '../helpers/binding-app.js';
import { waitUntil } from '../helpers/wait.js';

/** How many messages each broker scenario publishes. */
const MESSAGES = 1000;
/** How long the app answers 500 to everything once publishing starts. */
const REFUSING_MS = 3000;

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

/** The skip reason while the built-in `type` is not built, else false. */
function unbuilt(type: string): string | false {
  return existsSync(join(BUILTIN_COMPONENTS, `${type}.wasm`))
    ? false
    : `${type} is not built (dist/components/${type}.wasm is missing): build the binding components, then run this test`;
}

/** The distinct message ids the app took (answered 2xx). */
function taken(app: BindingApp, path: string, statusOf: Map<AppRequestKey, number>): Set<number> {
  const ids = new Set<number>();
  for (const r of app.on('POST', path)) {
    if (statusOf.get(r) !== 200) continue;
    try {
      ids.add((JSON.parse(r.body) as { id: number }).id);
    } catch {
      /* not one of ours */
    }
  }
  return ids;
}
type AppRequestKey = BindingApp['requests'][number];

/**
 * The app of a scenario: answers OPTIONS 200 (so the probe says it subscribes), refuses every delivery with
 * 500 while `refusing`, then takes them; remembers what it answered to each request.
 */
async function refusingApp(): Promise<{ app: BindingApp; statusOf: Map<AppRequestKey, number>; setRefusing(on: boolean): void }> {
  const app = await BindingApp.start();
  cleanup.push(() => app.close());
  const statusOf = new Map<AppRequestKey, number>();
  let refusing = true;
  app.respond = (r) => {
    const status = r.method === 'OPTIONS' ? 200 : refusing ? 500 : 200;
    statusOf.set(r, status);
    return status;
  };
  return {
    app,
    statusOf,
    setRefusing: (on) => {
      refusing = on;
    },
  };
}

/**
 * The scenario both brokers share: a sidecar reads binding `broker` for an app that refuses everything at
 * first; `publish` puts `MESSAGES` messages on the broker; the app starts taking them; the sidecar is killed
 * with `kill -9` mid-stream and restarted on the same data directory; every message reaches the app
 * (duplicates allowed: at-least-once).
 */
async function killAndRestart(type: string, metadata: Record<string, string>, publish: (ids: number[]) => Promise<void>): Promise<void> {
  const res = tempDir(`bindings-${type}`);
  writeComponent(res, 'broker.yaml', 'broker', type, metadata);
  const { app, statusOf, setRefusing } = await refusingApp();
  const start = async (dataDir?: string) => {
    const sc = await Sidecar.start({ appId: `reliable-${randomUUID().slice(0, 8)}`, resourcesPath: res, dataDir, args: ['--app-port', String(app.port)] });
    cleanup.push(() => sc.stop());
    await sc.waitForLog((l) => l.includes('input binding broker reading'), 30_000);
    return sc;
  };
  const first = await start();
  const ids = Array.from({ length: MESSAGES }, (_, i) => i);
  await publish(ids);
  await new Promise((r) => setTimeout(r, REFUSING_MS));
  assert.equal(taken(app, '/broker', statusOf).size, 0, 'nothing was taken while the app refused');
  assert.ok(app.on('POST', '/broker').length > 0, 'deliveries were tried while the app refused');
  setRefusing(false);
  await waitUntil(() => taken(app, '/broker', statusOf).size >= MESSAGES / 10, 'a tenth taken before the kill', 30_000);
  await first.kill9();
  const atKill = taken(app, '/broker', statusOf).size;
  assert.ok(atKill < MESSAGES, `the kill came mid-stream (${atKill} of ${MESSAGES} taken)`);
  const second = await start(first.dataDir);
  await waitUntil(() => taken(app, '/broker', statusOf).size === MESSAGES, `all ${MESSAGES} messages after the restart`, 60_000);
  const seen = taken(app, '/broker', statusOf);
  assert.deepEqual(
    ids.filter((id) => !seen.has(id)),
    [],
    'no message is missing',
  );
  const posts = app.on('POST', '/broker').length;
  process.stdout.write(`# ${type}: ${MESSAGES} messages, ${posts} deliveries in all, ${atKill} taken before the kill\n`);
  await second.stop();
}

describe('input binding reliability: bindings.rabbitmq', { skip: unbuilt('bindings.rabbitmq') }, () => {
  it('an app answering 500, then kill -9 of the sidecar mid-stream: all 1000 queued messages reach the app', async () => {
    const queueName = `mortar-binding-${randomUUID().slice(0, 8)}`;
    const amqp = await import('amqplib');
    cleanup.push(async () => {
      const conn = await amqp.connect(AMQP_URL);
      try {
        await (await conn.createChannel()).deleteQueue(queueName);
      } finally {
        await conn.close();
      }
    });
    await killAndRestart('bindings.rabbitmq', { host: AMQP_URL, queueName, durable: 'true', deleteWhenUnused: 'false' }, async (ids) => {
      const conn = await amqp.connect(AMQP_URL);
      try {
        const ch = await conn.createConfirmChannel();
        for (const id of ids) ch.sendToQueue(queueName, Buffer.from(JSON.stringify({ id })), { persistent: true, contentType: 'application/json' });
        await ch.waitForConfirms();
      } finally {
        await conn.close();
      }
    });
  });
});

describe('input binding reliability: bindings.mqtt3', { skip: unbuilt('bindings.mqtt3') }, () => {
  it('an app answering 500, then kill -9 of the sidecar mid-stream: all 1000 QoS 1 messages reach the app', async () => {
    const topic = `mortar/binding/${randomUUID().slice(0, 8)}`;
    const consumerID = `mortar-binding-${randomUUID().slice(0, 8)}`;
    const mqtt = await import('mqtt');
    await killAndRestart('bindings.mqtt3', { url: MQTT_URL, topic, consumerID, qos: '1', cleanSession: 'false' }, async (ids) => {
      const client = await mqtt.connectAsync(MQTT_URL.replace(/^tcp:/, 'mqtt:'), { clientId: `mortar-pub-${randomUUID().slice(0, 8)}` });
      try {
        for (const id of ids) await client.publishAsync(topic, JSON.stringify({ id }), { qos: 1 });
      } finally {
        await client.endAsync();
      }
    });
  });
});

describe('input binding throughput: bindings.mqtt3', { skip: unbuilt('bindings.mqtt3') }, () => {
  it('QoS 1 messages reach a slow app many at once (the broker window), not one after the other', async () => {
    const topic = `mortar/binding/${randomUUID().slice(0, 8)}`;
    const res = tempDir('bindings-mqtt3-window');
    writeComponent(res, 'broker.yaml', 'broker', 'bindings.mqtt3', { url: MQTT_URL, topic, consumerID: `mortar-window-${randomUUID().slice(0, 8)}` });
    const app = await BindingApp.start();
    cleanup.push(() => app.close());
    app.delayMs = 1000;
    const sc = await Sidecar.start({ appId: `window-${randomUUID().slice(0, 8)}`, resourcesPath: res, args: ['--app-port', String(app.port)] });
    cleanup.push(() => sc.stop());
    await sc.waitForLog((l) => l.includes('input binding broker reading'), 30_000);
    const mqtt = await import('mqtt');
    const client = await mqtt.connectAsync(MQTT_URL.replace(/^tcp:/, 'mqtt:'), { clientId: `mortar-pub-${randomUUID().slice(0, 8)}` });
    try {
      await Promise.all(Array.from({ length: 40 }, (_, id) => client.publishAsync(topic, JSON.stringify({ id }), { qos: 1 })));
    } finally {
      await client.endAsync();
    }
    await waitUntil(() => app.on('POST', '/broker').length >= 1, 'the first delivery', 15_000);
    const first = app.on('POST', '/broker')[0]!.at;
    await new Promise((r) => setTimeout(r, Math.max(0, first + 800 - Date.now())));
    // The app answers the first delivery after 1 s: whatever else arrived before is in flight with it.
    const together = app.on('POST', '/broker').filter((r) => r.at < first + 800).length;
    process.stdout.write(`# mqtt3: ${together} deliveries in flight at once to a 1 s app\n`);
    assert.ok(together >= 10, `at least 10 deliveries with the app at once (Mosquitto keeps 20 in flight), got ${together}`);
    await waitUntil(() => taken(app, '/broker', new Map(app.on('POST', '/broker').map((r) => [r, 200]))).size === 40, 'all 40 messages', 30_000);
    await sc.stop();
  });
});

describe('input binding reliability: bindings.cron', { skip: unbuilt('bindings.cron') }, () => {
  it('a cron binding fires on time (drift measured) and never twice for one tick', async () => {
    const res = tempDir('bindings-cron');
    writeComponent(res, 'tick.yaml', 'tick', 'bindings.cron', { schedule: '@every 1s', direction: 'input' });
    const app = await BindingApp.start();
    cleanup.push(() => app.close());
    const sc = await Sidecar.start({ appId: `cron-${randomUUID().slice(0, 8)}`, resourcesPath: res, args: ['--app-port', String(app.port)] });
    cleanup.push(() => sc.stop());
    await waitUntil(() => app.on('POST', '/tick').length >= 1, 'the first tick', 15_000);
    const t0 = app.on('POST', '/tick')[0]!.at;
    await new Promise((r) => setTimeout(r, 8500));
    const ticks = app.on('POST', '/tick').map((r) => r.at);
    await sc.stop();
    // Tick k is due at t0 + k s; its drift is how far from that it arrived.
    const drifts = ticks.map((at, k) => at - (t0 + k * 1000));
    const gaps = ticks.slice(1).map((at, i) => at - ticks[i]!);
    process.stdout.write(
      `# cron @every 1s: ${ticks.length} ticks in ${ticks.at(-1)! - t0}ms; drift max ${Math.max(...drifts.map(Math.abs))}ms, gaps ${Math.min(...gaps)}..${Math.max(...gaps)}ms\n`,
    );
    assert.ok(ticks.length >= 8 && ticks.length <= 10, `8 to 10 ticks in 8.5 s after the first (got ${ticks.length})`);
    assert.ok(
      gaps.every((g) => g > 500),
      `never twice for one tick (gaps ${gaps.join(', ')})`,
    );
    assert.ok(
      drifts.every((d) => Math.abs(d) < 250),
      `every tick within 250 ms of its time (drifts ${drifts.join(', ')})`,
    );
  });
});
