// A request to a Wasm workload that does one key-value get on state.redis (`mortar up` running a test workload of
// test/fixtures/workloads: the Spin app spin-http-ts, the QuickJS guest quickjs-http, or wat-http, written in WebAssembly
// text; its `default` label mapped to a state.redis store), against the same
// logic as a Node HTTP app calling the same sidecar with @dapr/dapr (workload-dapr-app.mjs: the network hop
// the workload does not make), and against bare fastify + ioredis running state.redis's own read script
// (baseline-server.mjs `redis`). The key is `orders||k`, the value '{"n":1}'.
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, interleavedThroughput, lowLoadRounds, median, startProcess, stop, upArgs, writeSpinApp } from './lib.mjs';

export async function workloadKvGet(ctx, guest = 'spin-http-ts') {
  return withWorkloadSides(ctx, guest, async ({ workload, dapr, bare }) => ({
    vsDapr: await interleavedThroughput(workload, dapr),
    vsBare: await interleavedThroughput(workload, bare),
    latency: await lowLoadP50(workload, dapr, bare),
  }));
}

/**
 * Runs `body` with the three sides up, each checked to answer the key's value: `mortar up` serving `guest`
 * (`workload`), the Node app + @dapr/dapr on its sidecar (`dapr`) and bare fastify + ioredis (`bare`). `body`
 * gets their URLs, and `start(cmd, args, readyUrl)` for more processes, stopped with the others.
 */
export async function withWorkloadSides({ root, BIN, REDIS, resources }, guest, body) {
  const dir = mkdtempSync(join(tmpdir(), 'mortar-bench-wl-app-'));
  mkdirSync(join(dir, 'target'));
  copyFileSync(join(root, 'dist/test-workloads', `${guest}.wasm`), join(dir, 'target/app.wasm'));
  writeSpinApp(dir);
  const res = resources('state.redis', { redisHost: REDIS }, 'redisstore');
  const [listen, daprPort, grpcPort, appPort, barePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const up = await startProcess(
    process.execPath,
    [
      ...upArgs(BIN, dir, { listen, res, daprPort, grpcPort }),
      // Workers per component (default: mortar's --instances default for the machine).
      ...(process.env.MORTAR_BENCH_INSTANCES ? ['--instances', process.env.MORTAR_BENCH_INSTANCES] : []),
      // As for every mortar process of the benchmark (`--workload-mode async`, say).
      ...(process.env.MORTAR_BENCH_ARGS ?? '').split(' ').filter(Boolean),
    ],
    // The workload listener (it comes up after the sidecar's API: a first start transpiles the guest).
    `http://127.0.0.1:${listen}/.well-known/spin/health`,
  );
  const procs = [up.proc];
  const start = async (cmd, args, readyUrl) => procs.push((await startProcess(cmd, args, readyUrl, [200])).proc);
  try {
    const seeded = await fetch(`http://127.0.0.1:${daprPort}/v1.0/state/redisstore`, { method: 'POST', body: JSON.stringify([{ key: 'k', value: { n: 1 } }]) });
    if (seeded.status !== 204) throw new Error(`bench: seeding the key answered ${seeded.status}`);
    const sides = {
      workload: `http://127.0.0.1:${listen}/kv?key=k`,
      dapr: `http://127.0.0.1:${appPort}/?key=k`,
      bare: `http://127.0.0.1:${barePort}/v1.0/state/redisstore/k`,
    };
    await start(process.execPath, [join(root, 'bench/workload-dapr-app.mjs'), String(appPort), String(daprPort), 'redisstore'], sides.dapr);
    await start(process.execPath, [join(root, 'bench/baseline-server.mjs'), 'redis', String(barePort), REDIS], sides.bare);
    for (const url of [sides.workload, sides.dapr]) {
      const answer = await (await fetch(url)).text();
      if (answer !== '{"n":1}') throw new Error(`bench: ${url} answered ${answer}`);
    }
    return await body(sides, start);
  } finally {
    // The sidecar last: the Node app fails on a connection its sidecar closes under it.
    for (const p of procs.reverse()) await stop(p);
  }
}

/**
 * One request at a time (one keep-alive connection): the p50 of the workload and of its two baselines, 3 rounds
 * after an untimed one, the order alternating; `vsDapr` and `vsBare` are the medians of the per-round ratios
 * baseline p50 / workload p50 (above 1: the workload answers sooner), `p50` the medians of each side's p50s.
 */
async function lowLoadP50(workload, dapr, bare) {
  const r = await lowLoadRounds({ workload, dapr, bare }, { n: 1000, warmup: 500 });
  const p50 = Object.fromEntries(Object.entries(r).map(([k, rounds]) => [k, rounds.map((x) => x.p50)]));
  const rounds = (k) => p50[k].map((b, i) => b / p50.workload[i]);
  return {
    p50: Object.fromEntries(Object.entries(p50).map(([k, v]) => [k, median(v)])),
    vsDapr: median(rounds('dapr')),
    vsBare: median(rounds('bare')),
    roundsDapr: rounds('dapr'),
    roundsBare: rounds('bare'),
  };
}
