#!/usr/bin/env node
// A/B of two mortar builds on the workloads path (`mortar up`, a guest doing one key-value get on state.redis),
// in one run, rounds interleaved with the order alternating, each against the same Node app + @dapr/dapr
// baseline (workload-dapr-app.mjs, calling build A's sidecar) measured in the same round. A build is a directory
// holding bin/, dist/ and node_modules (a git worktree). Also prints the sidecar's CPU per request by thread
// (from /proc/<pid>/task/*/stat, threads named by their comm), to see where the time goes.
//   node bench/workloads-ab.mjs <build A> <build B> [guest: quickjs-http|spin-http-ts] [rounds]
// MORTAR_AB_ARGS adds flags to both `mortar up`s (e.g. "--instances 4"); MORTAR_AB_ARGS_A / _B to one.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, lowLoadRounds, median, startProcess, stop, throughput, upArgs, writeSpinApp } from './lib.mjs';

const [a, b, guest = 'quickjs-http', n] = process.argv.slice(2);
if (!a || !b) {
  console.error('usage: node bench/workloads-ab.mjs <build A> <build B> [guest] [rounds]');
  process.exit(2);
}
const builds = [resolve(a), resolve(b)];
const rounds = Number(n ?? 4);
const REDIS = process.env.MORTAR_TEST_REDIS ?? '127.0.0.1:6379';
const flags = (v) => (v ?? '').split(' ').filter(Boolean);
const extraOf = [flags(process.env.MORTAR_AB_ARGS_A ?? process.env.MORTAR_AB_ARGS), flags(process.env.MORTAR_AB_ARGS_B ?? process.env.MORTAR_AB_ARGS)];

const res = mkdtempSync(join(tmpdir(), 'mortar-ab-wl-res-'));
const [rh, rp] = REDIS.split(':');
writeFileSync(
  join(res, 'redisstore.yaml'),
  `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: redisstore\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n    - name: redisHost\n      value: "${rh}:${rp ?? 6379}"\n`,
);

/** utime + stime in clock ticks of each thread of `pid`, by thread name (comm). */
function threadTicks(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const key = tid === String(pid) ? 'main' : `${name}#${tid}`;
      out.set(key, (out.get(key) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      /* thread gone */
    }
  }
  return out;
}

async function up(build, extra) {
  const dir = mkdtempSync(join(tmpdir(), 'mortar-ab-wl-app-'));
  mkdirSync(join(dir, 'target'));
  copyFileSync(join(build, 'dist/test-workloads', `${guest}.wasm`), join(dir, 'target/app.wasm'));
  writeSpinApp(dir);
  const [listen, daprPort, grpcPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const m = await startProcess(
    process.execPath,
    [...upArgs(join(build, 'bin/mortar.js'), dir, { listen, res, daprPort, grpcPort }), ...extra],
    `http://127.0.0.1:${listen}/.well-known/spin/health`,
  );
  return { build, proc: m.proc, url: `http://127.0.0.1:${listen}/kv?key=k`, daprPort, rate: [], ratio: [], cpu: new Map(), requests: 0 };
}

const sides = [];
const procs = [];
try {
  for (const build of builds) {
    const s = await up(build, extraOf[sides.length]);
    procs.push(s.proc);
    sides.push(s);
  }
  const seeded = await fetch(`http://127.0.0.1:${sides[0].daprPort}/v1.0/state/redisstore`, {
    method: 'POST',
    body: JSON.stringify([{ key: 'k', value: { n: 1 } }]),
  });
  if (seeded.status !== 204) throw new Error(`seeding answered ${seeded.status}`);
  const appPort = await freePort();
  const app = await startProcess(
    process.execPath,
    [join(builds[0], 'bench/workload-dapr-app.mjs'), String(appPort), String(sides[0].daprPort), 'redisstore'],
    `http://127.0.0.1:${appPort}/?key=k`,
    [200],
  );
  procs.push(app.proc);
  const dapr = `http://127.0.0.1:${appPort}/?key=k`;
  for (const s of sides) {
    const body = await (await fetch(s.url)).text();
    if (body !== '{"n":1}') throw new Error(`${s.url} answered ${body}`);
    await throughput(s.url, { duration: 2 });
  }
  await throughput(dapr, { duration: 2 });
  for (let i = 0; i < rounds; i++) {
    const base = await throughput(dapr, { duration: 3 });
    for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
      const t0 = threadTicks(s.proc.pid);
      const r = await throughput(s.url, { duration: 3 });
      const t1 = threadTicks(s.proc.pid);
      for (const [k, v] of t1) s.cpu.set(k, (s.cpu.get(k) ?? 0) + v - (t0.get(k) ?? 0));
      s.requests += r * 3;
      s.rate.push(r);
      s.ratio.push(r / base);
    }
  }
  // One request at a time, on one connection: what the hops of a request cost, without queueing.
  const oneAtATime = await lowLoadRounds(Object.fromEntries(sides.map((s, i) => [i, s.url])), { rounds: 2, n: 1000, warmup: 0 });
  for (const [i, s] of sides.entries()) s.p50 = oneAtATime[i].map((x) => x.p50);
  for (const s of sides) {
    console.log(`${s.build}: one at a time, p50 ${s.p50.map((x) => x.toFixed(3)).join(', ')} ms`);
    console.log(
      `${s.build}: ${guest} ${Math.round(median(s.rate))} req/s, vs Node app + @dapr/dapr ${median(s.ratio).toFixed(3)}x (rounds: ${s.ratio.map((r) => r.toFixed(3)).join(', ')})`,
    );
    const per = [...s.cpu].filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]);
    const total = per.reduce((t, [, v]) => t + v, 0);
    console.log(
      `  CPU per request (us): total ${((total * 10000) / s.requests).toFixed(0)}; ${per.map(([k, v]) => `${k} ${((v * 10000) / s.requests).toFixed(0)}`).join(', ')}`,
    );
  }
  const [A, B] = sides;
  console.log(
    `B/A throughput: ${(median(B.rate) / median(A.rate)).toFixed(2)}x; ratio vs Dapr app A ${median(A.ratio).toFixed(3)}x -> B ${median(B.ratio).toFixed(3)}x`,
  );
} finally {
  for (const p of procs) await stop(p);
}
