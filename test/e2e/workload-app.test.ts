/**
 * A workload is a Dapr app: under a real `mortar up` process, the sidecar calls the QuickJS guest
 * (test/fixtures/workloads/quickjs-http) as it calls an HTTP app, in process: `GET /dapr/subscribe` (routed to
 * the guest by its Spin route `/...`), declarative Subscriptions scoped to its app id, pub/sub deliveries on
 * pubsub.redis published with the official `@dapr/dapr` DaprClient over HTTP (SUCCESS, RETRY redelivered, DROP
 * to the dead-letter topic, bulk subscribe, raw payload), a bindings.cron input binding (the OPTIONS probe,
 * then its events), with app health checks on (deliveries start once the guest's probe path answers 2xx). The
 * guest counts each event in key-value on state.redis; the test reads the counts through the Dapr state API
 * under the same app id.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient } from '@dapr/dapr';
import { type Up, startUp, upArgs } from '../helpers/mortar-up.js';
import { REDIS_HOST, ROOT, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const RUN = `${process.pid}-${Date.now()}`;
const APP_ID = `wl-events-${RUN}`;
/** Topics of this run (Redis streams outlive it). */
const T = (name: string) => `${name}-${RUN}`;

const SUBSCRIPTIONS = JSON.stringify([
  { pubsubname: 'pubsub', topic: T('orders'), route: '/events/orders', deadLetterTopic: T('orders-dead') },
  { pubsubname: 'pubsub', topic: T('orders-dead'), route: '/events/dead' },
  { pubsubname: 'pubsub', topic: T('bulk'), route: '/events/bulk', bulkSubscribe: { enabled: true, maxMessagesCount: 5, maxAwaitDurationMs: 200 } },
  { pubsubname: 'pubsub', topic: T('raw'), route: '/events/raw', metadata: { rawPayload: 'true' } },
]);

const MANIFEST = `spin_manifest_version = 2

[application]
name = "${APP_ID}"

[[trigger.http]]
route = "/..."
component = "guest"

[component.guest]
source = "target/guest.wasm"
key_value_stores = ["default"]
variables = { subscriptions = '${SUBSCRIPTIONS}' }
`;

const subscription = (name: string, topic: string, route: string, scopes: string[]) => `apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: ${name}
spec:
  pubsubname: pubsub
  topic: ${topic}
  route: ${route}
scopes:
${scopes.map((s) => `  - ${s}`).join('\n')}
`;

describe('a workload is a Dapr app: the sidecar calls the guest as an HTTP app under mortar up', () => {
  let up: Up | undefined;
  let api: string;
  let client: DaprClient;

  /** What the guest counted under `key` (read through the Dapr state API), 0 when nothing. */
  async function count(key: string): Promise<number> {
    const r = await fetch(`${api}/v1.0/state/statestore/${key}`);
    return r.status === 204 ? 0 : Number(await r.text());
  }

  before(async () => {
    const dir = tempDir('wl-events');
    mkdirSync(join(dir, 'target'));
    copyFileSync(join(ROOT, 'dist/test-workloads/quickjs-http.wasm'), join(dir, 'target/guest.wasm'));
    writeFileSync(join(dir, 'spin.toml'), MANIFEST);
    const res = join(dir, 'resources');
    writeComponent(res, 'state.yaml', 'statestore', 'state.redis', { redisHost: REDIS_HOST });
    writeComponent(res, 'pubsub.yaml', 'pubsub', 'pubsub.redis', { redisHost: REDIS_HOST });
    writeComponent(res, 'cron.yaml', 'tick', 'bindings.cron', { schedule: '@every 1s', route: '/bindings/tick' });
    writeFileSync(join(res, 'sub-mine.yaml'), subscription('decl-mine', T('decl'), '/events/decl', [APP_ID]));
    writeFileSync(join(res, 'sub-other.yaml'), subscription('decl-other', T('decl-other'), '/events/other', ['another-app']));
    const [http, grpc, listen] = [await freePort(), await freePort(), await freePort()];
    api = `http://127.0.0.1:${http}`;
    up = await startUp(
      [
        ...upArgs(join(dir, 'spin.toml'), join(dir, 'data'), { http, grpc, listen }),
        '--resources-path',
        res,
        '--enable-app-health-check',
        '--app-health-check-path',
        '/echo',
        '--app-health-probe-interval',
        '1',
      ],
      (logs) => logs.includes('subscriptions established'),
      'the workload`s subscriptions',
    );
    client = new DaprClient({ daprHost: '127.0.0.1', daprPort: String(http), communicationProtocol: CommunicationProtocolEnum.HTTP });
  });

  after(async () => {
    await up?.stop();
  });

  it("reads the guest's GET /dapr/subscribe and the declarative Subscription scoped to its app id (not the other app's)", async () => {
    const md = (await (await fetch(`${api}/v1.0/metadata`)).json()) as { id: string; subscriptions: Array<{ topic: string; deadLetterTopic?: string }> };
    assert.equal(md.id, APP_ID);
    assert.deepEqual(md.subscriptions.map((s) => s.topic).sort(), [T('bulk'), T('decl'), T('orders'), T('orders-dead'), T('raw')].sort());
    assert.equal(md.subscriptions.find((s) => s.topic === T('orders'))!.deadLetterTopic, T('orders-dead'));
    assert.equal((await fetch(`${api}/v1.0/healthz`)).status, 204, 'ready once the workload`s subscriptions are established');
  });

  it('every event published with DaprClient reaches the guest once; RETRY is redelivered; DROP goes to the dead-letter topic', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `o${i}`);
    for (const id of ids) {
      const mode = id === 'o3' ? 'retry-once' : id === 'o4' ? 'drop' : undefined;
      const r = await client.pubsub.publish('pubsub', T('orders'), { id, mode });
      assert.equal(r.error, undefined);
    }
    await waitUntil(async () => (await count('dead-o4')) === 1 && (await count('orders-o3')) === 2, 'the retried and the dead-lettered event', 15_000);
    for (const id of ids) assert.equal(await count(`orders-${id}`), id === 'o3' ? 2 : 1, `deliveries of ${id}`);
    for (const id of ids) assert.equal(await count(`dead-${id}`), id === 'o4' ? 1 : 0, `dead letters of ${id}`);
  });

  it('bulk subscribe: every entry of a bulk publish reaches the guest once, answered per entry', async () => {
    const r = await client.pubsub.publishBulk(
      'pubsub',
      T('bulk'),
      Array.from({ length: 12 }, (_, k) => ({ id: `b${k}` })),
    );
    assert.deepEqual(r.failedMessages, []);
    await waitUntil(async () => (await Promise.all(Array.from({ length: 12 }, (_, k) => count(`bulk-b${k}`)))).every((n) => n === 1), 'twelve entries', 15_000);
  });

  it('a raw-payload subscription delivers the payload as data_base64 (as daprd wraps it), the declarative one to its route', async () => {
    await client.pubsub.publish('pubsub', T('raw'), { id: 'r1' }, { metadata: { rawPayload: 'true' } });
    await client.pubsub.publish('pubsub', T('decl'), { id: 'd1' });
    await client.pubsub.publish('pubsub', T('decl-other'), { id: 'x1' });
    await waitUntil(async () => (await count('raw.raw-r1')) === 1 && (await count('decl-d1')) === 1, 'the raw and the declarative event', 15_000);
    assert.equal(await count('raw-r1'), 0, 'the raw payload came as data_base64, not as a CloudEvent`s data');
    assert.equal(await count('other-x1'), 0, 'a Subscription scoped to another app is not delivered');
  });

  it('a bindings.cron input binding: the guest answers the OPTIONS probe and receives its events on the route', async () => {
    await waitUntil(async () => (await count('binding-tick')) >= 1, 'a cron event', 10_000);
  });
});
