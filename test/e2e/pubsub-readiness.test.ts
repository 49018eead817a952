/**
 * Readiness with a broker that is down when the app's subscriptions are set up: `/v1.0/healthz` waits for
 * them a bounded time (`SUBSCRIBE_READY_TIMEOUT_MS`), then answers 204 with a warning naming what is
 * missing, and the subscription is established once the broker is back. Uses a private Mosquitto.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Sidecar, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { PrivateBroker } from '../helpers/private-broker.js';
import { SUBSCRIBE_READY_TIMEOUT_MS } from '../../host/src/blocks/pubsub/pubsub-service.js';

describe('pub/sub readiness with a broker down', () => {
  let broker: PrivateBroker | undefined;
  let app: SubscriberApp | undefined;
  let sc: Sidecar | undefined;
  after(async () => {
    if (process.env.MORTAR_TEST_DEBUG) console.log(sc?.logs.join('\n'));
    await sc?.stop();
    await app?.close();
    await broker?.stop();
  });

  it('/v1.0/healthz stays 500 (subscriptions) while the broker is down, answers 204 after the bounded wait with a warning naming the subscription, which is established once the broker is back', async () => {
    const topic = `ready-down-${randomUUID().slice(0, 8)}`;
    broker = await PrivateBroker.start('mosquitto');
    const res = tempDir('pubsub-ready-down');
    writeComponent(res, 'broker.yaml', 'broker', 'pubsub.mqtt3', { url: broker.address, cleanSession: 'true' });
    const appPort = await freePort();
    // The component loads while the broker is up; the broker goes down before the app listens, that is
    // before the sidecar subscribes.
    sc = await Sidecar.start({ resourcesPath: res, args: ['--app-port', String(appPort)] });
    await broker.stop();
    app = await SubscriberApp.start([{ pubsubname: 'broker', topic, route: '/in' }], appPort);
    const t0 = Date.now();

    let sawSubscriptionsTarget = false;
    for (;;) {
      const r = await sc.json('GET', '/v1.0/healthz');
      if (r.status === 204) break;
      assert.equal(r.status, 500);
      assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_HEALTH_NOT_READY');
      if (String((r.body as { message: string }).message).includes('subscriptions')) sawSubscriptionsTarget = true;
      assert.equal((await sc.fetch('/v1.0/healthz/outbound')).status, 204, 'outbound readiness does not wait for brokers');
      assert.ok(Date.now() - t0 < SUBSCRIBE_READY_TIMEOUT_MS + 15_000, 'readiness does not hang on a broker that is down');
      await new Promise((r) => setTimeout(r, 100));
    }
    const waited = Date.now() - t0;
    assert.ok(sawSubscriptionsTarget, 'healthz named the subscriptions it waited for');
    assert.ok(waited >= SUBSCRIBE_READY_TIMEOUT_MS - 500, `ready after ${waited} ms: it waited for the broker`);
    assert.ok(
      sc.logs.some((l) => l.includes(`ready without broker/${topic}`)),
      'a warning names the missing subscription',
    );

    // The broker is back: the retried subscription is established and delivers.
    await broker.relaunch();
    await sc.waitForLog((l) => l.includes(`subscribed to broker: ${topic}`), 30_000);
    assert.equal((await sc.fetch(`/v1.0/publish/broker/${topic}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'after' })).status, 204);
    await app.until(() => app!.on('/in').some((d) => d.event?.data === 'after'), 15_000, 'the message published once the broker was back');
  });
});
