/**
 * `mortar run` as a drop-in for `dapr run`: flags, `-- <command>` with DAPR_HTTP_PORT set, app readiness,
 * graceful shutdown on SIGTERM, and clear errors for bad flags.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { procStatus } from '../../host/src/app-process.js';
import { BIN, Sidecar, freePort, tempDir } from '../helpers/sidecar.js';
import { waitUntil } from '../helpers/wait.js';
import { RawGrpc } from '../helpers/grpc.js';

describe('mortar run', () => {
  it('starts the app after `--` with DAPR_HTTP_PORT / DAPR_GRPC_PORT set, and stops when it exits', async () => {
    const grpc = await freePort();
    const script =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the app's own source, a template string it evaluates
      'fetch(`http://127.0.0.1:${process.env.DAPR_HTTP_PORT}/v1.0/state/statestore`, {method:"POST",headers:{"content-type":"application/json"},body:JSON.stringify([{key:"from-app",value:process.env.DAPR_GRPC_PORT}])}).then(r=>{console.log("APP-SAVED",r.status);})';
    const sc = await Sidecar.start({ args: ['--dapr-grpc-port', String(grpc), '--', process.execPath, '-e', script], wait: false });
    const code = await new Promise<number | null>((r) => sc.proc.once('exit', r));
    assert.equal(code, 0, sc.logs.join('\n'));
    assert.ok(
      sc.logs.some((l) => l.includes('APP-SAVED 204')),
      sc.logs.join('\n'),
    );
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
    const sc = await Sidecar.start({
      resourcesPath: undefined,
      args: ['-placement-host-address', 'localhost:50005', '--components-path', dir, '--config', '/nonexistent.yaml', '--max-body-size', '1Mi'],
    });
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

/**
 * An npm-like app: `sh` starts a grandchild that holds a port and writes its pid once listening. On SIGTERM
 * the grandchild takes 500 ms to finish and leaves a `graceful` file; `stubborn` ignores SIGTERM.
 */
function npmLikeApp(mode: 'graceful' | 'stubborn', shTail = 'wait'): { dir: string; port: Promise<number>; command: Promise<string[]> } {
  const dir = tempDir('app-group');
  const script = join(dir, 'grandchild.mjs');
  writeFileSync(
    script,
    `import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
const [port, dir, mode] = process.argv.slice(2);
createServer((s) => s.end()).listen(Number(port), '127.0.0.1', () => writeFileSync(dir + '/pid', String(process.pid)));
process.on('SIGTERM', () => {
  if (mode === 'stubborn') return;
  setTimeout(() => { writeFileSync(dir + '/graceful', 'yes'); process.exit(0); }, 500);
});
`,
  );
  const port = freePort();
  const command = port.then((p) => ['sh', '-c', `'${process.execPath}' '${script}' ${p} '${dir}' ${mode} & ${shTail}`]);
  return { dir, port, command };
}

/** Running: signalable and, where /proc tells, running as mortar reads it (`procStatus`: not a zombie). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // Not in /proc: reaped between the two calls (an orphan's zombie goes whenever init gets to it), unless
  // there is no /proc at all, when kill(pid, 0) has the last word.
  return procStatus(pid)?.running ?? !existsSync('/proc/self/stat');
};
const portOpen = (port: number, host = '127.0.0.1') =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

describe("mortar run -- <command>: the app's whole process group", () => {
  /**
   * Starts mortar with an npm-like app of `kind`, waits until its grandchild listens, and runs `body` with the
   * grandchild's pid. Not waited in start(): a sidecar that never gets ready is still stopped by the finally.
   */
  const withGrandchild = async (kind: 'graceful' | 'stubborn', body: (sc: Sidecar, pid: number, app: ReturnType<typeof npmLikeApp>) => Promise<void>) => {
    const app = npmLikeApp(kind);
    const sc = await Sidecar.start({ args: ['--', ...(await app.command)], wait: false });
    let pid = 0;
    try {
      await sc.waitReady();
      await waitUntil(() => existsSync(join(app.dir, 'pid')), 'the grandchild listening', 15_000);
      pid = Number(readFileSync(join(app.dir, 'pid'), 'utf8'));
      await body(sc, pid, app);
    } finally {
      await sc.stop();
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal} the app's grandchild holding a port is signalled and awaited before mortar exits 0`, () =>
      withGrandchild('graceful', async (sc, pid, app) => {
        assert.ok(await portOpen(await app.port));
        sc.proc.kill(signal);
        assert.equal(await sc.stop(), 0);
        assert.ok(existsSync(join(app.dir, 'graceful')), 'the grandchild had finished its SIGTERM handler when mortar exited');
        assert.ok(!alive(pid), 'the grandchild is gone');
        assert.equal(await portOpen(await app.port), false, 'its port is free');
      }));
  }

  it('a grandchild that ignores SIGTERM gets SIGKILL after the 5 s grace period', () =>
    withGrandchild('stubborn', async (sc, pid) => {
      const t0 = Date.now();
      sc.proc.kill('SIGTERM');
      await sc.stop();
      const took = Date.now() - t0;
      assert.ok(took >= 4500 && took < 9000, `mortar exited after ${took} ms`);
      assert.ok(!alive(pid), 'the grandchild is gone');
      assert.ok(
        sc.logs.some((l) => l.includes('outlived SIGTERM') && l.includes('SIGKILL')),
        sc.logs.join('\n'),
      );
    }));

  it("when the app exits by itself, mortar stops what it left running in its group and exits with the app's code", async () => {
    const app = npmLikeApp('graceful', `while [ ! -f '${'$'}{DIR}/pid' ]; do sleep 0.05; done; exit 3`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell placeholder the command line carries
    const command = (await app.command).map((a) => a.replace('${DIR}', app.dir));
    const sc = await Sidecar.start({ args: ['--', ...command], wait: false });
    const code = await new Promise<number | null>((r) => sc.proc.once('exit', r));
    const pid = Number(readFileSync(join(app.dir, 'pid'), 'utf8'));
    try {
      assert.equal(code, 3, sc.logs.join('\n'));
      assert.ok(sc.logs.some((l) => l.includes('app exited with code 3')));
      assert.ok(existsSync(join(app.dir, 'graceful')), 'the grandchild was stopped gracefully');
      assert.ok(!alive(pid));
      assert.equal(await portOpen(await app.port), false);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('mortar run: listening and start-up warnings', () => {
  it('serves the HTTP and gRPC APIs on every --dapr-listen-addresses address (::1, 127.0.0.2 and 127.0.0.1), and stops serving each on SIGTERM', async () => {
    const sc = await Sidecar.start({ args: ['--dapr-listen-addresses', '::1,127.0.0.2,127.0.0.1'], wait: false });
    const at = (host: string) => `http://${host}:${sc.port}`;
    try {
      await sc.waitReady();
      for (const host of ['[::1]', '127.0.0.2', '127.0.0.1']) assert.equal((await fetch(`${at(host)}/v1.0/healthz`)).status, 204, host);
      const saved = await fetch(`${at('[::1]')}/v1.0/state/statestore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ key: 'multi', value: 'via ::1' }]),
      });
      assert.equal(saved.status, 204);
      assert.equal(await (await fetch(`${at('127.0.0.2')}/v1.0/state/statestore/multi`)).json(), 'via ::1');
      assert.ok(
        sc.logs.some((l) => l.includes(`HTTP API on [::1]:${sc.port}, 127.0.0.2:${sc.port}, 127.0.0.1:${sc.port}`)),
        sc.logs.join('\n'),
      );
      // The gRPC API too, on the same addresses (its health service answers SERVING on each).
      for (const host of ['::1', '127.0.0.2', '127.0.0.1']) {
        const raw = new RawGrpc(sc.grpcPort, host);
        try {
          assert.equal(await raw.health(), 1, `gRPC on ${host}`);
        } finally {
          raw.close();
        }
      }
      assert.ok(sc.logs.some((l) => l.includes(`gRPC API on [::1]:${sc.grpcPort}, 127.0.0.2:${sc.grpcPort}, 127.0.0.1:${sc.grpcPort}`)));
    } finally {
      assert.equal(await sc.stop(), 0);
    }
    for (const host of ['[::1]', '127.0.0.2', '127.0.0.1']) await assert.rejects(fetch(`${at(host)}/v1.0/healthz`), `${host} no longer served`);
    for (const host of ['::1', '127.0.0.2', '127.0.0.1']) assert.equal(await portOpen(sc.grpcPort, host), false, `gRPC on ${host} no longer served`);
  });

  it('names every flag accepted but not applied in one warning at start; text log lines carry no JSON', async () => {
    const sc = await Sidecar.start({
      args: [
        '--config',
        '/nonexistent.yaml',
        '--app-protocol',
        'grpcs',
        '--placement-host-address',
        'localhost:50005',
        '-scheduler-host-address',
        'localhost:50006',
        '--metrics-port',
        '9091',
        '--enable-metrics=false',
        '--mode',
        'standalone',
      ],
      wait: false,
    });
    try {
      await sc.waitReady();
      const warnings = sc.logs.filter((l) => l.includes('accepted but not applied'));
      assert.deepEqual(warnings, [
        'WARN  accepted but not applied by mortar 0.1.0: --config /nonexistent.yaml, --app-protocol grpcs, ' +
          '--placement-host-address, --scheduler-host-address, --metrics-port',
      ]);
      assert.ok(sc.logs.length > 3);
      for (const l of sc.logs) assert.ok(!l.includes('{"'), `no JSON in text log line: ${l}`);
    } finally {
      await sc.stop();
    }
  });
});
