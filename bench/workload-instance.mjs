// The per-request instance cost of a Wasm HTTP workload: every request must see a fresh instance. Measured in
// one thread (no worker round trip) on the test workloads of test/fixtures/workloads (built by `npm run build`):
// the core modules are compiled once; then each request is served on an instance that is made fresh either by
// instantiating the component anew (the baseline: what Spin's model costs done naively) or by resetting the
// used instance to its post-initialisation memory image (what mortar does: sandbox/workload-instance.ts).
// Reported: the p50 of that per-request cost, and of the whole request (handle + making fresh).
// Run alone: node bench/workload-instance.mjs [rounds]
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFile } from 'node:fs/promises';
import { pathToFileURL, fileURLToPath } from 'node:url';

const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Workloads measured, with the target for the per-request cost of a fresh instance. */
export const WORKLOADS = [
  { name: 'quickjs-http', engine: 'QuickJS', targetMs: 1 },
  { name: 'spin-http-ts', engine: 'StarlingMonkey', targetMs: 5 },
  { name: 'spin-sdk-v2', engine: 'StarlingMonkey', targetMs: 5 },
];

export async function workloadInstanceCost(root, name, { requests = 200, freshRequests = 40 } = {}) {
  const dist = (p) => pathToFileURL(join(root, 'dist/host/src', p)).href;
  const { TranspileCache } = await import(dist('components/transpile-cache.js'));
  const { compiledModules } = await import(dist('components/sandbox/compiled-modules.js'));
  const { WorkloadInstance } = await import(dist('components/sandbox/workload-instance.js'));
  const { workloadWasi } = await import(dist('components/sandbox/workload-wasi.js'));
  const file = join(root, 'dist/test-workloads', `${name}.wasm`);
  const cache = new TranspileCache(join(mkdtempSync(join(tmpdir(), 'mortar-bench-wl-')), 'cache'));
  const artifact = await cache.get(await readFile(file), file);
  const modules = await compiledModules(artifact.dir, 256 * 1024 * 1024, true);
  const imports = await workloadWasi({
    name,
    environment: {},
    stdout: { write() {} },
    stderr: { write() {} },
    deadline: () => performance.now() + 5000,
    send: () => {
      throw { tag: 'HTTP-request-denied' };
    },
    call: (op) => (op === 'var.get' || op === 'config.get' ? 'v' : undefined),
    appCallBytes: 4 * 1024 * 1024,
  });
  // `/global` answers `fresh` only on an instance no earlier request has touched: each answer is checked.
  const req = { method: 'GET', scheme: 'http', authority: 'localhost', pathWithQuery: '/global', headers: [], body: new Uint8Array(0) };
  const run = async (mode, n) => {
    const inst = await WorkloadInstance.create(artifact.dir, modules, imports, mode);
    const renew = [];
    const total = [];
    for (let i = 0; i < n + 10; i++) {
      const t0 = performance.now();
      const r = await inst.handle(req);
      const t1 = performance.now();
      await inst.renew();
      const t2 = performance.now();
      if (r.status !== 200 || new TextDecoder().decode(r.body) !== 'fresh') throw new Error(`${name} (${mode}): request ${i} saw a used instance`);
      if (i >= 10) {
        renew.push(t2 - t1);
        total.push(t2 - t0);
      }
    }
    return { renew: p50(renew), total: p50(total), snapshotMb: inst.snapshotSize.bytes / 1e6, keptMb: inst.snapshotSize.stored / 1e6, stats: inst.stats };
  };
  const fresh = await run('fresh', freshRequests);
  const reset = await run('reset', requests);
  return { name, fresh, reset, size: (await readFile(file)).length };
}

/**
 * A whole request through `WorkloadHost` (the worker pool: main thread -> worker -> guest -> reply, the reset
 * done after the reply), sequential, p50; against the same request served in this thread on a reset instance
 * (`workloadInstanceCost`'s whole request), so the ratio is what the worker hop adds.
 */
export async function workloadHostLatency(root, name, { requests = 300 } = {}) {
  const dist = (p) => pathToFileURL(join(root, 'dist/host/src', p)).href;
  const { WorkloadHost } = await import(dist('workloads/workload-host.js'));
  const { pino } = await import('pino');
  const api = {
    getMetadata: () => ({ components: [] }),
  };
  const host = new WorkloadHost({ api, logger: pino({ level: 'silent' }), cacheDir: join(mkdtempSync(join(tmpdir(), 'mortar-bench-wlh-')), 'cache') });
  await host.start({ appId: 'bench', name, wasm: join(root, 'dist/test-workloads', `${name}.wasm`) });
  const req = { method: 'GET', scheme: 'http', authority: 'localhost', pathWithQuery: '/global', headers: [], body: new Uint8Array(0) };
  const times = [];
  try {
    for (let i = 0; i < requests + 20; i++) {
      const t0 = performance.now();
      const r = await host.handle(req);
      if (i >= 20) times.push(performance.now() - t0);
      if (r.status !== 200 || new TextDecoder().decode(r.body) !== 'fresh') throw new Error(`${name}: request ${i} answered ${r.status}`);
    }
  } finally {
    await host.close();
  }
  return p50(times);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  for (const w of WORKLOADS) {
    const r = await workloadInstanceCost(root, w.name);
    console.log(
      `${w.name} (${w.engine}, ${(r.size / 1e6).toFixed(1)} MB, memory ${r.reset.snapshotMb.toFixed(1)} MB, ${r.reset.keptMb.toFixed(1)} MB of it kept): fresh instance per request p50 ${r.reset.renew.toFixed(3)} ms reset vs ${r.fresh.renew.toFixed(2)} ms instantiating anew (ratio ${(r.reset.renew / r.fresh.renew).toFixed(3)}x; target <= ${w.targetMs} ms: ${r.reset.renew <= w.targetMs ? 'meets' : 'MISSES'}); whole request p50 ${r.reset.total.toFixed(3)} ms vs ${r.fresh.total.toFixed(2)} ms`,
    );
    const pooled = await workloadHostLatency(root, w.name);
    console.log(
      `  through WorkloadHost (worker pool), sequential: p50 ${pooled.toFixed(3)} ms per request vs ${r.reset.total.toFixed(3)} ms in-thread (ratio ${(pooled / r.reset.total).toFixed(2)}x)`,
    );
  }
}
