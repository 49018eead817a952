/**
 * Pub/sub conformance (the checks of Dapr's `tests/conformance/pubsub`, spec 3.2) run against every broker
 * component through a real sidecar and a real subscriber app over HTTP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { waitUntil } from '../helpers/wait.js';
import { selectedBrokers } from './brokers.js';

function subscriptionYaml(name: string, topic: string, route: string, extra = ''): string {
  return `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: ${name}
spec:
  pubsubname: broker
  topic: ${topic}
  routes:
    default: ${route}
${extra}`;
}

// MORTAR_TEST_BROKERS=pubsub.redis,pubsub.mqtt3 runs only those.
for (const broker of selectedBrokers()) {
  describe(`pub/sub conformance: ${broker.type}`, () => {
    const run = randomUUID().slice(0, 8);
    const topic = `testTopic-${run}`;
    const bulkTopic = `testTopicBulk-${run}`;
    const multi1 = `multiTopic1-${run}`;
    const multi2 = `multiTopic2-${run}`;
    let app: SubscriberApp;
    let sc: Sidecar;
    let res: string;

    before(async () => {
      res = tempDir('pubsub-conf');
      writeComponent(res, 'broker.yaml', 'broker', broker.type, broker.metadata());
      writeFileSync(join(res, 'sub-main.yaml'), subscriptionYaml('main', topic, '/main'));
      writeFileSync(
        join(res, 'sub-bulk.yaml'),
        subscriptionYaml('bulk', bulkTopic, '/bulk', '  bulkSubscribe:\n    enabled: true\n    maxMessagesCount: 5\n    maxAwaitDurationMs: 500\n'),
      );
      writeFileSync(join(res, 'sub-m1.yaml'), subscriptionYaml('m1', multi1, '/m1'));
      writeFileSync(join(res, 'sub-m2.yaml'), subscriptionYaml('m2', multi2, '/m2'));
      app = await SubscriberApp.start();
      sc = await Sidecar.start({ appId: `conf-${run}`, resourcesPath: res, args: ['--app-port', String(app.port)] });
      await sc.waitForLog((l) => l.includes('subscribed to broker'));
    });
    after(async () => {
      if (process.env.MORTAR_TEST_DEBUG) console.log(sc?.logs.join('\n'));
      await sc?.stop();
      await app?.close();
    });

    it('init and ping: the component is loaded and listed with its features', async () => {
      const md = await sc.json('GET', '/v1.0/metadata');
      const c = (md.body as { components: Array<{ name: string; type: string; capabilities: string[] }> }).components.find((x) => x.name === 'broker');
      assert.equal(c?.type, broker.type);
      assert.deepEqual([...(c?.capabilities ?? [])].sort(), [...broker.features].sort());
    });

    it('publish N messages; every one arrives though the handler fails the first two and every 5th once (redelivery)', async () => {
      const n = 20;
      const failedOnce = new Set<string>();
      const seen = new Set<string>();
      const firstOrder: string[] = [];
      app.respond = (d) => {
        const data = String(d.event?.data ?? '');
        if (!data.startsWith(`message-${run}-`)) return { status: 200 };
        const k = Number(data.split('-').pop());
        if ((k < 2 || k % 5 === 0) && !failedOnce.has(data)) {
          failedOnce.add(data);
          return { status: 200, body: '{"status":"RETRY"}' };
        }
        if (!seen.has(data)) {
          seen.add(data);
          firstOrder.push(data);
        }
        return { status: 200, body: '{"status":"SUCCESS"}' };
      };
      for (let k = 0; k < n; k++) {
        const r = await sc.fetch(`/v1.0/publish/broker/${topic}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `message-${run}-${k}` });
        assert.equal(r.status, 204);
      }
      await app.until(() => seen.size === n, 20_000, `${n} messages`);
      assert.ok(failedOnce.size >= 2 + Math.floor((n - 1) / 5), 'the failing handler was exercised');
      const d = app.on('/main')[0]!;
      assert.equal(d.headers['content-type'], 'application/cloudevents+json');
      assert.equal(d.headers.pubsubname, 'broker');
      assert.equal(d.event?.topic, topic);
      assert.equal(d.event?.pubsubname, 'broker');
      assert.equal(d.event?.type, 'com.dapr.event.sent');
      assert.equal(d.event?.datacontenttype, 'text/plain');
    });

    it('bulk publish: every entry arrives; bulk subscribe gets them in batches of at most 5 with per-entry statuses', async () => {
      const entries = Array.from({ length: 12 }, (_, k) => ({ entryId: String(k), event: `bulk-${run}-${k}`, contentType: 'text/plain' }));
      const got = new Set<string>();
      let retried = false;
      app.respond = (d) => {
        if (d.path !== '/bulk') return { status: 200 };
        const body = JSON.parse(d.body) as { entries: Array<{ entryId: string; event: { data: string }; contentType: string }> };
        assert.ok(body.entries.length <= 5, `batch of ${body.entries.length}`);
        const statuses = body.entries.map((e, i) => {
          // The first entry of the first batch is refused once and must come back.
          if (!retried && i === 0) {
            retried = true;
            return { entryId: e.entryId, status: 'RETRY' };
          }
          got.add(e.event.data);
          return { entryId: e.entryId, status: 'SUCCESS' };
        });
        return { status: 200, body: JSON.stringify({ statuses }) };
      };
      const r = await sc.json('POST', `/v1.0-alpha1/publish/bulk/broker/${bulkTopic}`, entries);
      assert.equal(r.status, 204, r.text);
      await app.until(() => got.size === 12, 20_000, '12 bulk entries');
      const batch = JSON.parse(app.on('/bulk')[0]!.body) as Record<string, unknown>;
      assert.equal(batch.type, 'com.dapr.event.sent.bulk');
      assert.equal(batch.topic, bulkTopic);
      assert.equal(batch.pubsubname, 'broker');
    });

    it('multiple handlers: each topic gets exactly its own messages; a removed subscription gets no more', async () => {
      app.respond = () => ({ status: 200 });
      for (let k = 0; k < 5; k++) {
        assert.equal(
          (await sc.fetch(`/v1.0/publish/broker/${multi1}`, { method: 'POST', body: `m1-${k}`, headers: { 'content-type': 'text/plain' } })).status,
          204,
        );
        assert.equal(
          (await sc.fetch(`/v1.0/publish/broker/${multi2}`, { method: 'POST', body: `m2-${k}`, headers: { 'content-type': 'text/plain' } })).status,
          204,
        );
      }
      await app.until(() => app.on('/m1').length >= 5 && app.on('/m2').length >= 5, 15_000, 'both topics');
      assert.ok(app.on('/m1').every((d) => String(d.event?.data).startsWith('m1-')));
      assert.ok(app.on('/m2').every((d) => String(d.event?.data).startsWith('m2-')));
      // Stop subscriber 1 (hot reload of the resources folder); subscriber 2 keeps working.
      unlinkSync(join(res, 'sub-m1.yaml'));
      await waitUntil(async () => {
        const md = await sc.json('GET', '/v1.0/metadata');
        return !(md.body as { subscriptions: Array<{ topic: string }> }).subscriptions.some((s) => s.topic === multi1);
      }, `${multi1} to leave the metadata API`);
      await new Promise((r) => setTimeout(r, 300));
      const before1 = app.on('/m1').length;
      await sc.fetch(`/v1.0/publish/broker/${multi1}`, { method: 'POST', body: 'm1-late', headers: { 'content-type': 'text/plain' } });
      await sc.fetch(`/v1.0/publish/broker/${multi2}`, { method: 'POST', body: 'm2-late', headers: { 'content-type': 'text/plain' } });
      await app.until(() => app.on('/m2').some((d) => d.event?.data === 'm2-late'), 15_000, 'm2-late');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(app.on('/m1').length, before1, 'the stopped subscription received nothing more');
    });
  });
}
