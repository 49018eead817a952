// Helpers for the benchmarks: child processes, load generation and latency sampling.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import autocannon from 'autocannon';

/** Ports handed out by this process: a port just released may be the next the OS offers. */
const handedOut = new Set();

/** A free TCP port on 127.0.0.1, never one this process handed out before (a sidecar's HTTP and gRPC ports). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** Spawns a process and resolves once `readyUrl` answers with one of `okStatus`; returns {proc, ms}. */
export async function startProcess(cmd, args, readyUrl, okStatus = [200, 204], env = {}) {
  const t0 = performance.now();
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${proc.exitCode}`);
    try {
      const r = await fetch(readyUrl);
      await r.arrayBuffer();
      if (okStatus.includes(r.status)) return { proc, ms: performance.now() - t0 };
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function stop(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

export function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/** Requests per second under load (autocannon); `request` sets method, headers and body (default: GET). */
export async function throughput(url, { connections = 32, duration = 5, request = {} } = {}) {
  await autocannon({ url, connections, duration: 1, ...request }); // warm-up
  const r = await autocannon({ url, connections, duration, ...request });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average;
}

/** Times `n` calls of `call` made one at a time, after `warmup` untimed ones; returns the samples in ms, sorted. */
export async function serialSamples(call, n, warmup) {
  for (let i = 0; i < warmup; i++) await call();
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return samples.sort((a, b) => a - b);
}

/** Latency at low load: sequential requests on one keep-alive connection, in ms (p50, p99). */
export async function lowLoadLatency(url, n = 2000) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  const samples = await serialSamples(get, n, 500);
  agent.destroy();
  return { p50: samples[Math.floor(n * 0.5)], p99: samples[Math.floor(n * 0.99)] };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Low-load latency of several sides (`{name: url}`) in interleaved rounds: first `warmup` untimed requests to each
 * side (0: none; the first round after a load test otherwise measures the processes settling: JIT, caches, the
 * pool's spin heuristics), then `rounds` rounds of `lowLoadLatency(url, n)` per side, the order reversed every
 * other round so that a slow minute hits every side alike. Returns each side's rounds (`{p50, p99}`), in order.
 */
export async function lowLoadRounds(sides, { rounds = 3, n = 2000, warmup = n } = {}) {
  const names = Object.keys(sides);
  const out = Object.fromEntries(names.map((k) => [k, []]));
  if (warmup > 0) for (const k of names) await lowLoadLatency(sides[k], warmup);
  for (let i = 0; i < rounds; i++) for (const k of i % 2 === 0 ? names : [...names].reverse()) out[k].push(await lowLoadLatency(sides[k], n));
  return out;
}

/**
 * Throughput of `url` against `baseUrl`, interleaved over `rounds` rounds so that drift on a noisy machine
 * hits both alike; returns the median of the per-round ratios and the median figures. `request` as for `throughput`.
 */
export async function interleavedThroughput(url, baseUrl, { rounds = 3, duration = 3, connections = 32, request = {} } = {}) {
  const ratios = [];
  const ours = [];
  const theirs = [];
  // Warm both up first (JIT, connection pools, the sidecar growing its instance pool).
  await throughput(url, { connections, duration: 2, request });
  await throughput(baseUrl, { connections, duration: 2, request });
  for (let i = 0; i < rounds; i++) {
    const a = await throughput(url, { connections, duration, request });
    const b = await throughput(baseUrl, { connections, duration, request });
    ours.push(a);
    theirs.push(b);
    ratios.push(a / b);
  }
  return { ratio: median(ratios), ratios, value: median(ours), baseline: median(theirs) };
}

/** The arguments of `mortar run` as the benchmarks start it (app id `orders`, log level warn), before any extra flags. */
export const runArgs = (bin, port, grpcPort, dataDir) => [
  bin,
  'run',
  '--app-id',
  'orders',
  '--dapr-http-port',
  String(port),
  '--dapr-grpc-port',
  String(grpcPort),
  '--data-dir',
  dataDir,
  '--log-level',
  'warn',
];

/** The Spin app the workload benchmarks run: `target/app.wasm` on route `/...`, its `default` key-value label a mortar `redisstore`. */
export function writeSpinApp(dir) {
  writeFileSync(
    join(dir, 'spin.toml'),
    'spin_manifest_version = 2\n\n[application]\nname = "orders"\n\n[[trigger.http]]\nroute = "/..."\ncomponent = "app"\n\n[component.app]\nsource = "target/app.wasm"\nkey_value_stores = ["default"]\n',
  );
  writeFileSync(join(dir, 'rc.toml'), '[key_value_store.default]\ntype = "mortar"\ncomponent = "redisstore"\n');
}

/** The arguments of `mortar up` for the app `writeSpinApp` wrote in `dir` (log level error), before any extra flags. */
export const upArgs = (bin, dir, { listen, res, daprPort, grpcPort }) => [
  bin,
  'up',
  '-f',
  join(dir, 'spin.toml'),
  '--listen',
  `127.0.0.1:${listen}`,
  '--runtime-config-file',
  join(dir, 'rc.toml'),
  '--resources-path',
  res,
  '--dapr-http-port',
  String(daprPort),
  '--dapr-grpc-port',
  String(grpcPort),
  '--data-dir',
  join(dir, 'data'),
  '--log-level',
  'error',
];

/** A fresh resources folder holding one Dapr component `name` of `type` with `metadata`; returns its path. */
export function resources(type, metadata, name = 'store') {
  const dir = mkdtempSync(join(tmpdir(), 'mortar-bench-res-'));
  const md = Object.entries(metadata)
    .map(([k, v]) => `    - name: ${k}\n      value: "${v}"`)
    .join('\n');
  writeFileSync(
    join(dir, `${name}.yaml`),
    `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${name}\nspec:\n  type: ${type}\n  version: v1\n  metadata:${md ? `\n${md}` : ' []'}\n`,
  );
  return dir;
}
