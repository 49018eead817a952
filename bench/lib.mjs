// Helpers for the benchmarks: child processes, load generation and latency sampling.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
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
  for (let i = 0; i < 500; i++) await get();
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await get();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  agent.destroy();
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(n * 0.5)], p99: samples[Math.floor(n * 0.99)] };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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
