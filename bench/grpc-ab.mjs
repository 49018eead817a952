#!/usr/bin/env node
// A/B of two mortar builds on the gRPC path, in one run, rounds interleaved with the order alternating (for
// comparing a change against the build before it on a noisy VM; `npm run bench` measures one build against
// baselines). A build is a directory holding bin/, dist/ and node_modules (a git worktree, or a copy of them).
//   node bench/grpc-ab.mjs latency <build A> <build B> [rounds]   GetState over gRPC on state.in-memory: p50 one
//       call at a time, calls/s with 32 in flight, and the sidecar's CPU per call (main thread and process,
//       from /proc) during both
//   node bench/grpc-ab.mjs memory <build A> <build B> [starts]    embedded defaults, 2 s after ready: the main
//       thread's heap and the RSS after two GCs (node --expose-gc and a SIGUSR2 probe preloaded)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { field, frame, unaryClient } from './grpc.mjs';
import { freePort, median, runArgs, startProcess, stop } from './lib.mjs';

const [mode, a, b, n] = process.argv.slice(2);
if (!['latency', 'memory'].includes(mode) || !a || !b) {
  console.error('usage: node bench/grpc-ab.mjs latency|memory <build A> <build B> [rounds]');
  process.exit(2);
}
const builds = [resolve(a), resolve(b)];
const rounds = Number(n ?? (mode === 'latency' ? 8 : 6));
const dataDir = () => mkdtempSync(join(tmpdir(), 'mortar-ab-data-'));
const args = (build, port, grpcPort) => runArgs(join(build, 'bin/mortar.js'), port, grpcPort, dataDir());
const order = (i, xs) => (i % 2 === 0 ? xs : [...xs].reverse());
const ticksOf = (path) => {
  const f = readFileSync(path, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (10 ms)
};
/** Starts counting the CPU of process `pid`; the function returned gives it per call for `calls` calls since: main thread and process, in us. */
const cpuSince = (pid) => {
  const main = `/proc/${pid}/task/${pid}/stat`;
  const proc = `/proc/${pid}/stat`;
  const [m0, p0] = [ticksOf(main), ticksOf(proc)];
  return (calls) => ({ main: ((ticksOf(main) - m0) * 1e4) / calls, proc: ((ticksOf(proc) - p0) * 1e4) / calls });
};

if (mode === 'latency') {
  const res = mkdtempSync(join(tmpdir(), 'mortar-ab-res-'));
  writeFileSync(
    join(res, 'store.yaml'),
    'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: store\nspec:\n  type: state.in-memory\n  version: v1\n  metadata: []\n',
  );
  const body = frame(Buffer.concat([field(1, 'store'), field(2, 'k')]));
  const sides = [];
  for (const build of builds) {
    const port = await freePort();
    const grpcPort = await freePort();
    const m = await startProcess(
      process.execPath,
      [...args(build, port, grpcPort), '--resources-path', res],
      `http://127.0.0.1:${port}/v1.0/healthz/outbound`,
      [204],
    );
    await fetch(`http://127.0.0.1:${port}/v1.0/state/store`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[{"key":"k","value":{"n":1}}]',
    });
    const c = unaryClient(grpcPort, 'GetState');
    sides.push({ build, m, get: () => c.call(body), close: c.close, p50: [], rate: [], main: [], proc: [], serialMain: [], serialProc: [] });
  }
  const load = async (s, seconds = 3) => {
    const cpu = cpuSince(s.m.proc.pid);
    let done = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < end) {
          await s.get();
          done++;
        }
      }),
    );
    return {
      rate: done / ((performance.now() - t0) / 1000),
      ...cpu(done),
    };
  };
  const p50 = async (s) => {
    for (let i = 0; i < 300; i++) await s.get();
    const cpu = cpuSince(s.m.proc.pid);
    const xs = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = process.hrtime.bigint();
      await s.get();
      xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const used = cpu(xs.length);
    s.serialMain.push(used.main);
    s.serialProc.push(used.proc);
    return median(xs);
  };
  try {
    for (const s of sides) await load(s, 2);
    for (let i = 0; i < rounds; i++) {
      for (const s of order(i, sides)) {
        const r = await load(s);
        s.rate.push(r.rate);
        s.main.push(r.main);
        s.proc.push(r.proc);
      }
      for (const s of order(i, sides)) s.p50.push(await p50(s));
    }
  } finally {
    for (const s of sides) {
      s.close();
      await stop(s.m.proc);
    }
  }
  for (const s of sides) {
    console.log(
      `${s.build}: p50 ${median(s.p50).toFixed(3)} ms, ${Math.round(median(s.rate))} calls/s, CPU per call ${median(s.main).toFixed(1)} us (main thread), ${median(s.proc).toFixed(1)} us (process); one at a time ${median(s.serialMain).toFixed(0)} us (main thread), ${median(s.serialProc).toFixed(0)} us (process)`,
    );
  }
  const [x, y] = sides;
  const ratios = (k) => x[k].map((v, i) => (y[k][i] / v).toFixed(2)).join(' ');
  console.log(`B/A per round: p50 ${ratios('p50')}; calls/s ${ratios('rate')}; CPU main ${ratios('main')}; CPU process ${ratios('proc')}`);
} else {
  const probe = join(mkdtempSync(join(tmpdir(), 'mortar-ab-probe-')), 'probe.cjs');
  writeFileSync(
    probe,
    "process.on('SIGUSR2', () => { global.gc(); global.gc(); const m = process.memoryUsage(); process.stderr.write('PROBE ' + JSON.stringify({ rss: m.rss, heap: m.heapUsed }) + '\\n'); });\n",
  );
  const out = new Map(builds.map((x) => [x, { rss: [], heap: [] }]));
  for (let i = 0; i < rounds; i++) {
    for (const build of order(i, builds)) {
      const port = await freePort();
      const grpcPort = await freePort();
      const proc = spawn(process.execPath, ['--expose-gc', '--require', probe, ...args(build, port, grpcPort)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      proc.stderr.on('data', (c) => (err += c));
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`${build} exited with ${proc.exitCode}: ${err}`);
        const ok = await fetch(`http://127.0.0.1:${port}/v1.0/healthz/outbound`).then(
          (r) => r.status === 204,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 2000));
      proc.kill('SIGUSR2');
      while (!/PROBE .*\n/.test(err)) await new Promise((r) => setTimeout(r, 20));
      const p = JSON.parse(/PROBE (.*)\n/.exec(err)[1]);
      out.get(build).rss.push(p.rss / 1e6);
      out.get(build).heap.push(p.heap / 1e6);
      await stop(proc);
    }
  }
  for (const [build, o] of out) {
    console.log(
      `${build}: after GC, main-thread heap ${median(o.heap).toFixed(2)} MB (${o.heap.map((x) => x.toFixed(1)).join(' ')}), RSS ${median(o.rss).toFixed(1)} MB (${o.rss.map((x) => x.toFixed(0)).join(' ')})`,
    );
  }
}
