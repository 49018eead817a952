// The JSPI spike's server (README.md), on Node >= 24 (JSPI without flags, SO_REUSEPORT):
//   node main.mjs <port> [workers] [instances per worker] [redis|port|const] [redis host:port]
// Each worker listens on <port> itself; this thread only starts them. On SIGTERM it prints each worker's
// per-request handle and reset times (stderr), then exits.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';

if (typeof WebAssembly.Suspending !== 'function')
  throw new Error(`jspi-workload: Node ${process.version} has no JSPI (WebAssembly.Suspending): run it on Node >= 24`);
const [port, workers = '2', instances = '16', store = 'redis', redis = '127.0.0.1:6379'] = process.argv.slice(2);
const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const script = /const MGET = `([^`]*)`;/.exec(readFileSync(join(root, 'components-wasm/state.redis/index.ts'), 'utf8'))?.[1];
const all = [];
let initialised = 0;
// `port` mode: one store thread, a MessagePort to it for each worker.
const channels = store === 'port' ? Array.from({ length: Number(workers) }, () => new MessageChannel()) : [];
if (store === 'port') {
  const ports = channels.map((c) => c.port2);
  new Worker(new URL('./store.mjs', import.meta.url), { workerData: { redis, script, ports }, transferList: ports }).unref();
}
for (let i = 0; i < Number(workers); i++) {
  const storePort = channels[i]?.port1;
  const w = new Worker(new URL('./worker.mjs', import.meta.url), {
    workerData: { root, port: Number(port), instances: Number(instances), store, redis, script, storePort },
    transferList: storePort ? [storePort] : [],
  });
  w.once('message', (m) => {
    if (m?.initialised && ++initialised === Number(workers)) for (const x of all) x.postMessage('listen');
  });
  w.on('error', (err) => {
    console.error('jspi-workload: a worker failed:', err);
    process.exit(1);
  });
  all.push(w);
}
process.on('SIGTERM', async () => {
  for (const w of all) {
    const { stats } = await new Promise((r) => {
      w.once('message', r);
      w.postMessage('stats');
    });
    const us = (ms) => ((ms / Math.max(1, stats.served)) * 1000).toFixed(0);
    console.error(
      `jspi-workload: worker served ${stats.served}: handle ${us(stats.handle)} us (awaited: with its suspension and its wait for the thread), reset ${us(stats.reset)} us a request`,
    );
    w.postMessage('stop');
  }
  process.exit(0);
});
