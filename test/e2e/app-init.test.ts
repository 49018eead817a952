/**
 * The app's init calls (spec 1.14 "Startup order"), against a real `mortar run` and a real app:
 * `GET /dapr/config` is read before `GET /dapr/subscribe`, and `--disable-init-endpoints` turns either off.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sidecar, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';

const run = randomUUID().slice(0, 8);

/** A sidecar and its app; the app answers `/dapr/config` with `appConfig` (404 when null) and subscribes to `prog`. */
const ACTOR_CONFIG = { entities: ['Cart', 'Order'], actorIdleTimeout: '1h', drainRebalancedActors: true, reentrancy: { enabled: true, maxStackDepth: 8 } };

async function start(args: string[], appConfig: unknown = ACTOR_CONFIG): Promise<{ sc: Sidecar; app: SubscriberApp; topics: { prog: string; decl: string } }> {
  const topics = { prog: `prog-${run}-${randomUUID().slice(0, 4)}`, decl: `decl-${run}-${randomUUID().slice(0, 4)}` };
  const res = tempDir('app-init');
  writeComponent(res, 'ps.yaml', 'ps', 'pubsub.in-memory');
  writeFileSync(
    join(res, 'sub.yaml'),
    `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: { name: decl }
spec: { pubsubname: ps, topic: ${topics.decl}, routes: { default: /decl } }
`,
  );
  const appPort = await freePort();
  const app = await SubscriberApp.start([{ pubsubname: 'ps', topic: topics.prog, route: '/prog' }], appPort);
  app.appConfig = appConfig ?? undefined;
  const sc = await Sidecar.start({ appId: 'shop', resourcesPath: res, args: ['--app-port', String(appPort), ...args] });
  for (let i = 0; i < 300 && (await sc.fetch('/v1.0/healthz')).status !== 204; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await sc.fetch('/v1.0/healthz')).status, 204);
  return { sc, app, topics };
}

describe('app init calls', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  const publish = async (sc: Sidecar, topic: string, data: string) => {
    assert.equal((await sc.fetch(`/v1.0/publish/ps/${topic}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: data })).status, 204);
  };

  it('GET /dapr/config comes before GET /dapr/subscribe, carries dapr-app-id, and what it gives is logged', async () => {
    const { sc, app } = await start([]);
    cleanup.push(
      () => sc.stop(),
      () => app.close(),
    );
    assert.deepEqual(
      app.calls.map((c) => `${c.method} ${c.path}`),
      ['GET /dapr/config', 'GET /dapr/subscribe'],
    );
    assert.equal(app.calls[0]!.headers['dapr-app-id'], 'shop');
    assert.ok(
      sc.logs.some((l) => l.includes('GET /dapr/config: app configuration read: actor types Cart, Order (mortar serves no actors: not registered)')),
      sc.logs.filter((l) => l.includes('/dapr/config')).join('\n'),
    );
  });

  it('an app without /dapr/config (404) is read no further: its subscriptions still start', async () => {
    const { sc, app, topics } = await start([], null);
    cleanup.push(
      () => sc.stop(),
      () => app.close(),
    );
    assert.deepEqual(
      app.calls.map((c) => c.path),
      ['/dapr/config', '/dapr/subscribe'],
    );
    assert.ok(
      sc.logs.some((l) => l.includes('GET /dapr/config answered 404: no app configuration')),
      sc.logs.join('\n'),
    );
    await publish(sc, topics.prog, 'p');
    await app.until(() => app.on('/prog').length === 1, 10_000, 'the programmatic subscription');
  });

  it('--disable-init-endpoints config: no GET /dapr/config; GET /dapr/subscribe still read and served', async () => {
    const { sc, app, topics } = await start(['--disable-init-endpoints', 'config']);
    cleanup.push(
      () => sc.stop(),
      () => app.close(),
    );
    assert.deepEqual(
      app.calls.map((c) => c.path),
      ['/dapr/subscribe'],
    );
    await publish(sc, topics.prog, 'p');
    await app.until(() => app.on('/prog').length === 1, 10_000, 'the programmatic subscription');
  });

  it('--disable-init-endpoints=subscribe,config: neither call is made; declarative subscriptions are still delivered, programmatic ones never asked for', async () => {
    const { sc, app, topics } = await start(['--disable-init-endpoints=subscribe,config']);
    cleanup.push(
      () => sc.stop(),
      () => app.close(),
    );
    assert.deepEqual(app.calls, []);
    await publish(sc, topics.decl, 'd');
    await publish(sc, topics.prog, 'p');
    await app.until(() => app.on('/decl').length === 1, 10_000, 'the declarative subscription');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(app.on('/prog').length, 0, 'no programmatic subscription');
    const md = (await sc.json('GET', '/v1.0/metadata')).body as { subscriptions: Array<{ topic: string }> };
    assert.deepEqual(
      md.subscriptions.map((s) => s.topic),
      [topics.decl],
    );
  });

  it('an unknown --disable-init-endpoints value stops mortar run with exit code 2 naming the valid ones', async () => {
    const sc = await Sidecar.start({ args: ['--disable-init-endpoints', 'config,actors'], wait: false });
    if (sc.proc.exitCode === null) await new Promise((r) => sc.proc.once('exit', r));
    assert.equal(sc.proc.exitCode, 2);
    assert.ok(
      sc.logs.some((l) => l.includes("--disable-init-endpoints: 'actors' is not one of config, subscribe")),
      sc.logs.join('\n'),
    );
  });
});
