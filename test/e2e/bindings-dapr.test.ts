/**
 * The official `@dapr/dapr` SDK end to end with bindings: `DaprClient.binding.send` against an output
 * binding and `DaprServer.binding.receive` as the app of an input binding, against a real `mortar` process and
 * the `bindings.echo-fixture` test component, once per app protocol with the same assertions: over HTTP the
 * SDK answers the sidecar's OPTIONS probe and acknowledges each event with 200, or 500 when its callback
 * throws; over gRPC (`--app-protocol grpc`) it lists the binding in `ListInputBindings` and answers
 * `OnBindingEvent`, with an error when its callback throws. The client speaks HTTP in both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommunicationProtocolEnum, DaprClient, DaprServer } from '@dapr/dapr';
import { Sidecar, TEST_COMPONENTS, freePort, tempDir, writeComponent } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

const FIXTURE = 'bindings.echo-fixture';

const PROTOCOLS = [
  { name: 'HTTP', protocol: CommunicationProtocolEnum.HTTP, args: [] as string[] },
  { name: 'gRPC', protocol: CommunicationProtocolEnum.GRPC, args: ['--app-protocol', 'grpc'] },
];

for (const { name, protocol, args } of PROTOCOLS)
  describe(`@dapr/dapr DaprClient.binding.send + DaprServer.binding.receive against mortar, app protocol ${name}`, () => {
    let sc: Sidecar;
    let server: DaprServer;
    let client: DaprClient;
    const received: unknown[] = [];
    let throwsLeft = 3;

    before(async () => {
      const dir = tempDir('bindings-dapr');
      copyFileSync(join(TEST_COMPONENTS, `${FIXTURE}.wasm`), join(dir, `${FIXTURE}.wasm`));
      // No direction: the sidecar asks the app whether it wants `orders` (HTTP: OPTIONS /orders, which the SDK's
      // receive() registers; gRPC: ListInputBindings).
      writeComponent(dir, 'orders.yaml', 'orders', FIXTURE, { events: '20' });
      const appPort = await freePort();
      sc = await Sidecar.start({ appId: 'bindings-sdk', resourcesPath: dir, args: ['--app-port', String(appPort), ...args] });
      const clientOptions = { daprHost: '127.0.0.1', daprPort: String(sc.port), communicationProtocol: CommunicationProtocolEnum.HTTP };
      server = new DaprServer({
        serverHost: '127.0.0.1',
        serverPort: String(appPort),
        communicationProtocol: protocol,
        clientOptions: {
          ...clientOptions,
          daprPort: String(protocol === CommunicationProtocolEnum.GRPC ? sc.grpcPort : sc.port),
          communicationProtocol: protocol,
        },
      });
      await server.binding.receive('orders', async (data: unknown) => {
        // The first three deliveries of event 7 fail in the callback: the SDK answers 500 (over gRPC: an error).
        if ((data as { n?: number }).n === 7 && throwsLeft > 0) {
          throwsLeft--;
          throw new Error('not yet');
        }
        received.push(data);
      });
      await server.start();
      client = new DaprClient(clientOptions);
      await client.start();
    });
    // The sidecar first: the SDK's HTTP/2 server closes only once the sidecar's connection to it has ended.
    after(async () => {
      await sc?.stop();
      await server?.stop();
    });

    it('binding.send returns the data the binding answered', async () => {
      const r = await client.binding.send('orders', 'echo', { orderId: 42, items: ['a'] }, { key: 'v' });
      assert.deepEqual(r, { items: ['a'], orderId: 42 });
    });

    it("binding.send of an operation with no response (204) resolves with the SDK's empty text", async () => {
      assert.equal(await client.binding.send('orders', 'none', 'x'), '');
    });

    it("binding.send of an unknown binding rejects with the sidecar's ERR_INVOKE_OUTPUT_BINDING", async () => {
      await assert.rejects(client.binding.send('missing', 'echo', 1), (err: Error) => {
        const e = JSON.parse(err.message) as { status: number; error_msg: string };
        assert.equal(e.status, 500);
        assert.deepEqual(JSON.parse(e.error_msg), {
          errorCode: 'ERR_INVOKE_OUTPUT_BINDING',
          message: "error invoking output binding missing: couldn't find output binding missing",
        });
        return true;
      });
    });

    it('binding.receive gets every event as parsed JSON, an event whose callback threw included (retried), none lost', async () => {
      await waitUntil(() => new Set(received.map((d) => (d as { n: number }).n)).size === 20, 'twenty distinct events', 20_000);
      const ns = [...new Set(received.map((d) => (d as { n: number }).n))].sort((a, b) => a - b);
      assert.deepEqual(
        ns,
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      assert.equal(throwsLeft, 0, 'event 7 failed three times first');
      assert.deepEqual(
        received.find((d) => (d as { n: number }).n === 7),
        { n: 7 },
      );
    });
  });
