/**
 * `mortar run` as a drop-in for `dapr run`: flags, `-- <command>` with DAPR_HTTP_PORT set, app readiness,
 * graceful shutdown on SIGTERM, and clear errors for bad flags.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { BIN, Sidecar, freePort, tempDir } from '../helpers/sidecar.js';

describe('mortar run', () => {
  it('starts the app after `--` with DAPR_HTTP_PORT / DAPR_GRPC_PORT set, and stops when it exits', async () => {
    const grpc = await freePort();
    const script = 'fetch(`http://127.0.0.1:${process.env.DAPR_HTTP_PORT}/v1.0/state/statestore`, {method:"POST",headers:{"content-type":"application/json"},body:JSON.stringify([{key:"from-app",value:process.env.DAPR_GRPC_PORT}])}).then(r=>{console.log("APP-SAVED",r.status);})';
    const sc = await Sidecar.start({ args: ['--dapr-grpc-port', String(grpc), '--', process.execPath, '-e', script], wait: false });
    const code = await new Promise<number | null>((r) => sc.proc.once('exit', r));
    assert.equal(code, 0);
    assert.ok(sc.logs.some((l) => l.includes('APP-SAVED 204')), sc.logs.join('\n'));
  });

  it('with --app-port, /healthz is 500 until the app listens, then 204; outbound is 204 at once', async () => {
    const appPort = await freePort();
    const sc = await Sidecar.start({ args: ['--app-port', String(appPort)] });
    try {
      assert.equal((await sc.fetch('/v1.0/healthz/outbound')).status, 204);
      const r = await sc.json('GET', '/v1.0/healthz');
      assert.equal(r.status, 500);
      assert.equal((r.body as { errorCode: string }).errorCode, 'ERR_HEALTH_NOT_READY');
      const app = createServer((_q, s) => s.end('ok')).listen(appPort, '127.0.0.1');
      try {
        const deadline = Date.now() + 3000;
        let status = 0;
        while (Date.now() < deadline && status !== 204) {
          status = (await sc.fetch('/v1.0/healthz')).status;
          await new Promise((res) => setTimeout(res, 50));
        }
        assert.equal(status, 204);
        assert.equal((await sc.json('GET', '/v1.0/healthz?appid=someone-else')).status, 500);
        const md = (await sc.json('GET', '/v1.0/metadata')).body as { appConnectionProperties: { port: number } };
        assert.equal(md.appConnectionProperties.port, appPort);
      } finally {
        app.close();
      }
    } finally {
      await sc.stop();
    }
  });

  it('SIGTERM lets in-flight requests finish and exits 0', async () => {
    const sc = await Sidecar.start();
    const inflight = Array.from({ length: 20 }, (_, i) => sc.json('POST', '/v1.0/state/statestore', [{ key: `term-${i}`, value: i }]));
    sc.proc.kill('SIGTERM');
    const results = await Promise.allSettled(inflight);
    const code = await sc.stop();
    assert.equal(code, 0);
    for (const r of results) if (r.status === 'fulfilled') assert.ok([204, 503].includes(r.value.status), `status ${r.value.status}`);
    assert.ok(sc.logs.some((l) => l.includes('shutting down gracefully')));
  });

  it('rejects unknown flags and bad values with a message naming the flag', () => {
    const r1 = spawnSync(process.execPath, [BIN, 'run', '--no-such-flag'], { encoding: 'utf8' });
    assert.equal(r1.status, 2);
    assert.match(r1.stderr, /no-such-flag/);
    const r2 = spawnSync(process.execPath, [BIN, 'run', '--app-port', 'eighty'], { encoding: 'utf8' });
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /--app-port: 'eighty' is not a whole number/);
    const r3 = spawnSync(process.execPath, [BIN, 'run', '--help'], { encoding: 'utf8' });
    assert.equal(r3.status, 0);
    assert.match(r3.stdout, /--resources-path/);
  });

  it('accepts daprd flags it does not act on, Go-style single dashes, and --components-path', async () => {
    const dir = tempDir('cli-res');
    const sc = await Sidecar.start({ resourcesPath: undefined, args: ['-placement-host-address', 'localhost:50005', '--components-path', dir, '--config', '/nonexistent.yaml', '--max-body-size', '1Mi'] });
    try {
      const md = (await sc.json('GET', '/v1.0/metadata')).body as { components: unknown[] };
      assert.deepEqual(md.components, [], 'resources path given: no embedded defaults');
      const big = await sc.json('POST', '/v1.0/state/statestore', [{ key: 'big', value: 'x'.repeat(2 * 1024 * 1024) }]);
      assert.equal(big.status, 413);
    } finally {
      await sc.stop();
    }
  });
});
