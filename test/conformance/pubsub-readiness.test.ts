/**
 * Readiness means subscribed: once `/v1.0/healthz` answers 204, every subscription of the app (declarative
 * and programmatic) exists at the broker, so nothing published from that moment on is lost. Runs against
 * every broker component (`MORTAR_TEST_BROKERS` selects some), each with a fresh sidecar and topics of its own.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { SubscriberApp } from '../helpers/subscriber-app.js';
import { selectedBrokers } from './brokers.js';

const MESSAGES = 1000;
/** Publishes in flight at once: enough to publish the first hundred within the old window of loss. */
const CONCURRENCY = 16;

/** Polls `/v1.0/healthz` every 5 ms; resolves at its first 204. */
async function healthzReady(sc: Sidecar, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (sc.proc.exitCode !== null) throw new Error(`mortar exited with ${sc.proc.exitCode}:\n${sc.logs.join('\n')}`);
    try {
      if ((await sc.fetch('/v1.0/healthz')).status === 204) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`/v1.0/healthz not 204 after ${timeoutMs}ms:\n${sc.logs.slice(-30).join('\n')}`);
}

// One data directory for every broker's sidecar (one after another): only the first pays for transpiling.
const dataDir = tempDir('pubsub-ready-data');

for (const broker of selectedBrokers()) {
  describe(`pub/sub readiness: ${broker.type}`, () => {
    let app: SubscriberApp | undefined;
    let sc: Sidecar | undefined;
    after(async () => {
      if (process.env.MORTAR_TEST_DEBUG) console.log(sc?.logs.join('\n'));
      await sc?.stop();
      await app?.close();
    });

    it(`every one of ${MESSAGES} messages published the moment /v1.0/healthz answers 204 is delivered, on a declarative and a programmatic subscription`, async () => {
      const run = randomUUID().slice(0, 8);
      const declarative = `ready-decl-${run}`;
      const programmatic = `ready-prog-${run}`;
      const res = tempDir('pubsub-ready');
      writeComponent(res, 'broker.yaml', 'broker', broker.type, broker.metadata());
      writeFileSync(
        join(res, 'sub.yaml'),
        `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: decl
spec:
  pubsubname: broker
  topic: ${declarative}
  routes:
    default: /decl
`,
      );
      app = await SubscriberApp.start([{ pubsubname: 'broker', topic: programmatic, route: '/prog' }]);
      const received = { [declarative]: new Set<string>(), [programmatic]: new Set<string>() };
      app.respond = (d) => {
        const topic = String(d.event?.topic);
        received[topic]?.add(String(d.event?.data));
        return { status: 200 };
      };
      sc = await Sidecar.start({ appId: `ready-${run}`, resourcesPath: res, args: ['--app-port', String(app.port)], dataDir, wait: false });
      await healthzReady(sc);

      // Alternate the two topics, so both get messages from the very first moment.
      let next = 0;
      const failures: string[] = [];
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let k = next++; k < MESSAGES; k = next++) {
            const topic = k % 2 === 0 ? declarative : programmatic;
            const r = await sc!.fetch(`/v1.0/publish/broker/${topic}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `m-${k}` });
            if (r.status !== 204) failures.push(`m-${k}: ${r.status} ${await r.text()}`);
          }
        }),
      );
      assert.deepEqual(failures, [], 'every publish was accepted');
      const total = () => received[declarative]!.size + received[programmatic]!.size;
      try {
        await app.until(() => total() === MESSAGES, 60_000, `${MESSAGES} distinct messages`);
      } finally {
        const missing = Array.from({ length: MESSAGES }, (_, k) => k).filter((k) => !received[k % 2 === 0 ? declarative : programmatic]!.has(`m-${k}`));
        if (missing.length > 0)
          console.log(`${broker.type}: ${missing.length} of ${MESSAGES} never delivered; first missing: ${missing.slice(0, 10).join(', ')}`);
      }
      assert.equal(received[declarative]!.size, MESSAGES / 2);
      assert.equal(received[programmatic]!.size, MESSAGES / 2);
    });
  });
}
