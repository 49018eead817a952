/**
 * `mortar up` on a real process: a Spin manifest starts the sidecar (its Dapr HTTP API, under the app id
 * `application.name`) and the workload listener beside it; routes are Spin's (unmatched: 404, matched: served
 * by the component: the Spin app of test/fixtures/workloads/spin-http-ts, its key-value counter on the embedded
 * default `statestore`, read back through the Dapr API under the same app id); a manifest mortar cannot run is
 * refused at start with the field named and exit code 1, a bad flag with exit code 2. And issue 13's call
 * path beside SpinKube: deploy/spinapp's Spin app under `mortar up`, calling a second sidecar (`mortar run`, as
 * deploy/shared runs it) through wasi:http/outgoing-handler.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseSpinManifest } from '../../host/src/workloads/spin-manifest.js';
import { readManifests } from '../helpers/k8s.js';
import { type Up, listenerServing, startUp, upArgs } from '../helpers/mortar-up.js';
import { BIN, REDIS_HOST, ROOT, Sidecar, freePort, tempDir } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * An app folder: spin.toml and its .wasm, the Spin app built as Spin 3.6's http-ts template builds (`real`), or
 * a placeholder (a core module: not a component) for the tests that are refused before it is loaded.
 */
function fixture(manifest: string, real = true): string {
  const dir = tempDir('spin-app');
  mkdirSync(join(dir, 'target'));
  if (real) copyFileSync(join(ROOT, 'dist/test-workloads/spin-http-ts.wasm'), join(dir, 'target/hello.wasm'));
  else writeFileSync(join(dir, 'target/hello.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  writeFileSync(join(dir, 'spin.toml'), manifest);
  return dir;
}

const HELLO = `spin_manifest_version = 2

[application]
name = "hello-spin"
version = "0.1.0"

[variables]
greeting = { default = "hello" }

[[trigger.http]]
route = "/hello/..."
component = "hello"

[[trigger.http]]
route = "/counter"
component = "hello"

[component.hello]
source = "target/hello.wasm"
key_value_stores = ["default"]
variables = { message = "{{ greeting }}" }
allowed_outbound_hosts = ["http://127.0.0.1:*"]

[component.hello.build]
command = "npm run build"
watch = ["src/**/*.ts"]
`;

describe('mortar up', () => {
  it('serves /v1.0/healthz on the Dapr port under application.name, 404 for an unmatched route on --listen, a matched one by the component (its counter readable through /v1.0/state)', async () => {
    const dir = fixture(HELLO);
    const [http, grpc, listen] = [await freePort(), await freePort(), await freePort()];
    const up = await startUp(upArgs(join(dir, 'spin.toml'), join(dir, 'data'), { http, grpc, listen }), listenerServing(listen), 'the workload listener');
    const logs = up.logs;
    let code: number | null;
    try {
      // Ready once the workload, as the app, has been asked for its subscriptions (it has none: 404).
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${http}/v1.0/healthz`)).status === 204, 'the sidecar ready', 10_000);
      const md = (await (await fetch(`http://127.0.0.1:${http}/v1.0/metadata`)).json()) as { id: string };
      assert.equal(md.id, 'hello-spin', 'the workload`s app id is application.name');
      const unmatched = await fetch(`http://127.0.0.1:${listen}/nope`);
      assert.equal(unmatched.status, 404);
      assert.equal(await unmatched.text(), '');
      for (const n of ['1', '2']) {
        const matched = await fetch(`http://127.0.0.1:${listen}/counter`);
        assert.equal(matched.status, 200);
        assert.equal(await matched.text(), n, 'the component counts in its key-value store');
      }
      const state = await fetch(`http://127.0.0.1:${http}/v1.0/state/statestore/counter`);
      assert.equal(await state.text(), '2', 'an HTTP app with the same app id reads the counter');
      const greeting = await fetch(`http://127.0.0.1:${listen}/hello/world`);
      assert.equal(greeting.status, 404, 'the component itself answers a path its router does not know');
      // A changed .wasm is swapped in: the QuickJS guest (wasi:keyvalue) answers without a content-type, and
      // increments the same key.
      copyFileSync(join(ROOT, 'dist/test-workloads/quickjs-http.wasm'), join(dir, 'target/hello.wasm'));
      let swapped: Response | undefined;
      await waitUntil(
        async () => {
          swapped = await fetch(`http://127.0.0.1:${listen}/counter`);
          return swapped.headers.get('content-type') === null;
        },
        'the changed component serving',
        30_000,
      );
      assert.match(await swapped!.text(), /^\d+$/);
      assert.ok(logs.join('').includes(`hello: http://127.0.0.1:${listen}/hello (wildcard)`), logs.join(''));
    } finally {
      code = await up.stop();
    }
    assert.equal(code, 0, logs.join(''));
  });

  it('--workload-mode sync: the app runs on sync workers (one request each at a time): its counter counts, 32 requests at once are all answered, an HTTP app reads the key', async () => {
    const dir = fixture(HELLO);
    const [http, grpc, listen] = [await freePort(), await freePort(), await freePort()];
    const args = [...upArgs(join(dir, 'spin.toml'), join(dir, 'data'), { http, grpc, listen }), '--workload-mode', 'sync'];
    const up = await startUp(args, listenerServing(listen), 'the workload listener');
    try {
      for (const n of ['1', '2']) assert.equal(await (await fetch(`http://127.0.0.1:${listen}/counter`)).text(), n);
      const answers = await Promise.all(Array.from({ length: 32 }, () => fetch(`http://127.0.0.1:${listen}/counter`)));
      for (const r of answers) {
        assert.equal(r.status, 200);
        assert.match(await r.text(), /^\d+$/);
      }
      const state = Number(await (await fetch(`http://127.0.0.1:${http}/v1.0/state/statestore/counter`)).text());
      assert.ok(state > 2 && state <= 34, `the counter after 34 increments, some concurrent: ${state}`);
    } finally {
      assert.equal(await up.stop(), 0, up.logs.join(''));
    }
  });

  it('--workload-instances with --workload-mode sync: requests that each hold their worker on an outbound call are served side by side, up to the flag (3 at once with 3 workers, one at a time with 1)', async () => {
    // The target holds each request until three are in (then answers them all) or 400 ms have passed, and
    // records the most it held at once.
    let inFlight = 0;
    let most = 0;
    const held: Array<() => void> = [];
    const target = createServer((_req, res) => {
      most = Math.max(most, ++inFlight);
      const answer = () => {
        inFlight--;
        res.end('held');
      };
      held.push(answer);
      if (held.length >= 3) for (const f of held.splice(0)) f();
      else
        setTimeout(() => {
          const i = held.indexOf(answer);
          if (i >= 0) held.splice(i, 1)[0]!();
        }, 400);
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
    const dir = tempDir('spin-instances');
    mkdirSync(join(dir, 'target'));
    copyFileSync(join(ROOT, 'dist/test-workloads/spin-sdk-v2.wasm'), join(dir, 'target/app.wasm'));
    writeFileSync(
      join(dir, 'spin.toml'),
      'spin_manifest_version = 2\n\n[application]\nname = "instances"\n\n[[trigger.http]]\nroute = "/..."\ncomponent = "app"\n\n[component.app]\nsource = "target/app.wasm"\nallowed_outbound_hosts = ["http://127.0.0.1:*"]\n',
    );
    try {
      for (const [workers, expected] of [
        [3, 3],
        [1, 1],
      ] as const) {
        const [http, grpc, listen] = [await freePort(), await freePort(), await freePort()];
        const args = [
          ...upArgs(join(dir, 'spin.toml'), join(dir, `data-${workers}`), { http, grpc, listen }),
          ...['--workload-mode', 'sync', '--workload-instances', String(workers)],
        ];
        const up = await startUp(args, listenerServing(listen), 'the workload listener');
        try {
          most = 0;
          // Workers start as requests overlap (one more at a time): bursts of three until the target has held
          // three at once (ten bursts at most); with one worker, three bursts that must never overlap.
          const bursts = workers === 1 ? 3 : 10;
          for (let burst = 0; burst < bursts && (workers === 1 || most < expected); burst++) {
            const answers = await Promise.all(Array.from({ length: 3 }, () => fetch(`http://127.0.0.1:${listen}/fetch?url=${encodeURIComponent(url)}`)));
            for (const r of answers) assert.equal(await r.text(), '200 held');
          }
          assert.equal(most, expected, `with --workload-instances ${workers} the target held ${most} requests at once`);
        } finally {
          assert.equal(await up.stop(), 0, up.logs.join(''));
        }
      }
    } finally {
      target.close();
    }
  });

  it('refuses a manifest with an unsupported run-time field at start: exit code 1, the field named, nothing served', () => {
    const dir = fixture(HELLO.replace('key_value_stores = ["default"]', 'key_value_stores = ["default"]\nfiles = ["static/*"]'));
    const r = spawnSync(process.execPath, [BIN, 'up', '-f', dir, '--listen', '127.0.0.1:0', '--dapr-http-port', '0', '--data-dir', join(dir, 'data')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^mortar up: .*spin\.toml: component\.hello\.files: mounting files into a component is not supported by mortar yet\n$/);
  });

  it('refuses at start a component source that is not a Wasm HTTP component: exit code 1, the file named', () => {
    const dir = fixture(HELLO, false);
    const r = spawnSync(
      process.execPath,
      [BIN, 'up', '-f', dir, '--listen', '127.0.0.1:0', '--dapr-http-port', '0', '--dapr-grpc-port', '0', '--data-dir', join(dir, 'data')],
      {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, MORTAR_LOG_FORMAT: 'text' },
      },
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /target\/hello\.wasm/);
  });

  it('refuses a required variable without a value, a bad runtime config and a bad flag (--app-port and --app-protocol grpc too: the workload is the app; a --workload-mode that is not sync or async), each by name', () => {
    const dir = fixture(HELLO.replace('greeting = { default = "hello" }', 'greeting = { required = true, secret = true }'));
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [BIN, 'up', ...args], { encoding: 'utf8', timeout: 20_000, cwd: dir, env: { ...process.env, ...env } });
    const missing = run(['--dapr-http-port', '0']);
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /variables\.greeting: required variable has no value \(set SPIN_VARIABLE_GREETING/);
    writeFileSync(join(dir, 'rc.toml'), '[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1"\n');
    const rc = run(['--runtime-config-file', 'rc.toml'], { SPIN_VARIABLE_GREETING: 'x' });
    assert.equal(rc.status, 1, rc.stderr);
    assert.match(rc.stderr, /rc\.toml: key_value_store\.default\.type: "redis" is not supported by mortar/);
    const flag = run(['--tls-cert', 'c.pem']);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /^mortar up: --tls-cert: TLS on --listen is not supported/);
    // The workload is the app the sidecar calls: no app port, no gRPC app channel.
    const appPort = run(['--app-port', '3001']);
    assert.equal(appPort.status, 2);
    assert.match(appPort.stderr, /^mortar up: --app-port: under mortar up the workload is the app/);
    const grpcApp = run(['--app-protocol', 'grpc']);
    assert.equal(grpcApp.status, 2);
    assert.match(grpcApp.stderr, /^mortar up: --app-protocol grpc: under mortar up the sidecar calls the workload as an HTTP app/);
    const mode = run(['--workload-mode', 'fast']);
    assert.equal(mode.status, 2);
    assert.match(mode.stderr, /^mortar up: --workload-mode: 'fast' is not sync or async/);
    const appId = run(['--app-id', 'other'], { SPIN_VARIABLE_GREETING: 'x' });
    assert.equal(appId.status, 1);
    assert.match(appId.stderr, /--app-id 'other' differs from application\.name 'hello-spin'/);
  });
});

describe('beside SpinKube: a workload calls another sidecar through wasi:http/outgoing-handler', () => {
  it("deploy/spinapp's spin.toml under mortar up, mortar_url pointing at a second mortar run (deploy/shared's app id and state.redis store): the state the guest saves there is read back from that sidecar; a host the allow-list does not name is refused", async () => {
    // The shared service: its app id and the components of its ConfigMap, with this machine's Redis.
    const shared = readManifests().find((m) => m.file === 'deploy/shared/deployment.yaml')!.object as {
      spec: { template: { spec: { containers: { name: string; args: string[] }[] } } };
    };
    const sharedArgs = shared.spec.template.spec.containers.find((c) => c.name === 'mortar')!.args;
    const appId = sharedArgs[sharedArgs.indexOf('--app-id') + 1]!;
    const cm = readManifests().find((m) => m.file === 'deploy/shared/components.yaml')!.object as { data: Record<string, string> };
    const res = tempDir('shared-res');
    for (const [file, text] of Object.entries(cm.data)) writeFileSync(join(res, file), text.replaceAll('redis:6379', REDIS_HOST));
    const sidecar = await Sidecar.start({ appId, resourcesPath: res });
    // The Spin app: deploy/spinapp/spin.toml as it is, its source the Spin JS SDK guest whose /shared-counter is
    // the handler that manifest describes.
    const dir = tempDir('spinapp');
    const manifest = readFileSync(join(ROOT, 'deploy/spinapp/spin.toml'), 'utf8');
    writeFileSync(join(dir, 'spin.toml'), manifest);
    const app = parseSpinManifest(manifest, join(dir, 'spin.toml'), false);
    for (const c of app.components.values()) {
      mkdirSync(dirname(c.source), { recursive: true });
      copyFileSync(join(ROOT, 'dist/test-workloads/spin-sdk-v2.wasm'), c.source);
    }
    const [http, grpc, listen] = [await freePort(), await freePort(), await freePort()];
    let up: Up | undefined;
    let upCode: number | null | undefined;
    let sharedCode: number | null;
    try {
      // A fresh count on the shared store (the key is the shared service's: <app id>||count).
      assert.equal((await sidecar.fetch('/v1.0/state/statestore/count', { method: 'DELETE' })).status, 204);
      // As SpinKube passes the SpinApp's variables: SPIN_VARIABLE_MORTAR_URL.
      up = await startUp(upArgs(dir, join(dir, 'data'), { http, grpc, listen }), listenerServing(listen), 'the workload listener', {
        SPIN_VARIABLE_MORTAR_URL: sidecar.url,
      });
      const workload = `http://127.0.0.1:${listen}`;
      for (const n of ['1', '2']) {
        const r = await fetch(`${workload}/shared-counter`);
        assert.equal(await r.text(), n, 'the guest read the count from the shared sidecar and saved the next one there');
        assert.equal(r.status, 200);
      }
      const read = await sidecar.fetch('/v1.0/state/statestore/count');
      assert.equal(read.status, 200);
      assert.equal(await read.json(), 2, 'the shared sidecar holds what the guest saved through it');
      const own = await fetch(`http://127.0.0.1:${http}/v1.0/state/statestore/count`);
      assert.equal(own.status, 204, "nothing was written to mortar up's own state store");
      assert.equal(((await (await sidecar.fetch('/v1.0/metadata')).json()) as { id: string }).id, appId);
      // The allow-list is the origin mortar_url names: another port on the same host, and the same port under
      // another host name, are refused by the host before any connection.
      for (const other of [`http://127.0.0.1:${http}/v1.0/state/statestore/count`, `http://localhost:${sidecar.port}/v1.0/state/statestore/count`]) {
        const r = await fetch(`${workload}/fetch?url=${encodeURIComponent(other)}`);
        assert.equal(r.status, 502, other);
        assert.match(await r.text(), /^refused: /, other);
      }
      const allowed = await fetch(`${workload}/fetch?url=${encodeURIComponent(`${sidecar.url}/v1.0/state/statestore/count`)}`);
      assert.equal(await allowed.text(), '200 2', 'the same call to the allowed origin goes through');
    } finally {
      upCode = await up?.stop();
      await sidecar.fetch('/v1.0/state/statestore/count', { method: 'DELETE' }).catch(() => undefined);
      sharedCode = await sidecar.stop();
    }
    assert.equal(upCode, 0, up.logs.join(''));
    assert.equal(sharedCode, 0, sidecar.logs.join('\n'));
  });
});
