// The JSPI spike's measurement (README.md), run on the machine's Node: the spike's server (on the Node that
// `MORTAR_SPIKE_NODE` names) against the workloads benchmark's baselines, interleaved as `npm run bench` does:
// the Node app + @dapr/dapr on `mortar up`'s sidecar, and bare fastify + ioredis; then `mortar up`'s own
// workload against the Node app, for reference. The guest (`quickjs-http` by default) serves `/kv?key=k`;
// Redis must run on 127.0.0.1:6379.
//   MORTAR_SPIKE_NODE=<node 24> node bench/spikes/jspi-workload/drive.mjs [workers] [instances] [redis|const] [guest]
// (the guest as transpile.mjs last transpiled it)
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, interleavedThroughput, startProcess, stop, upArgs, writeSpinApp } from '../../lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const [workers = '2', instances = '16', store = 'redis', guest = 'quickjs-http'] = process.argv.slice(2);
const node = process.env.MORTAR_SPIKE_NODE;
const transpiled = existsSync(join(root, 'bench/spikes/jspi-workload/art/guest'))
  ? readFileSync(join(root, 'bench/spikes/jspi-workload/art/guest'), 'utf8')
  : undefined;
if (transpiled !== guest) throw new Error(`jspi-workload: art/ holds ${transpiled ?? 'nothing'}, not ${guest}: run transpile.mjs ${guest} first`);
if (!node) throw new Error('jspi-workload: set MORTAR_SPIKE_NODE to a Node >= 24 binary (README.md)');
const res = mkdtempSync(join(tmpdir(), 'mortar-spike-res-'));
writeFileSync(
  join(res, 'redisstore.yaml'),
  'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: redisstore\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n    - name: redisHost\n      value: "127.0.0.1:6379"\n',
);
const dir = mkdtempSync(join(tmpdir(), 'mortar-spike-wl-'));
mkdirSync(join(dir, 'target'));
copyFileSync(join(root, `dist/test-workloads/${guest}.wasm`), join(dir, 'target/app.wasm'));
writeSpinApp(dir);
const [listen, daprPort, grpcPort, appPort, barePort, spikePort] = await Promise.all(Array.from({ length: 6 }, freePort));
const procs = [];
const line = (name, r) =>
  console.log(
    `${name}: ${r.value.toFixed(0)} vs ${r.baseline.toFixed(0)} req/s -> ${r.ratio.toFixed(2)}x (rounds ${r.ratios.map((x) => x.toFixed(2)).join(', ')})`,
  );
try {
  const up = await startProcess(
    process.execPath,
    upArgs(join(root, 'bin/mortar.js'), dir, { listen, res, daprPort, grpcPort }),
    `http://127.0.0.1:${listen}/.well-known/spin/health`,
  );
  procs.push(up.proc);
  const seeded = await fetch(`http://127.0.0.1:${daprPort}/v1.0/state/redisstore`, { method: 'POST', body: JSON.stringify([{ key: 'k', value: { n: 1 } }]) });
  if (seeded.status !== 204) throw new Error(`jspi-workload: seeding the key answered ${seeded.status}`);
  const start = async (cmd, args, url) => procs.push((await startProcess(cmd, args, url, [200])).proc);
  await start(
    process.execPath,
    [join(root, 'bench/workload-dapr-app.mjs'), String(appPort), String(daprPort), 'redisstore'],
    `http://127.0.0.1:${appPort}/?key=k`,
  );
  await start(
    process.execPath,
    [join(root, 'bench/baseline-server.mjs'), 'redis', String(barePort), '127.0.0.1:6379'],
    `http://127.0.0.1:${barePort}/v1.0/state/redisstore/k`,
  );
  await start(
    node,
    [join(root, 'bench/spikes/jspi-workload/main.mjs'), String(spikePort), workers, instances, store],
    `http://127.0.0.1:${spikePort}/kv?key=k`,
  );
  const spike = `http://127.0.0.1:${spikePort}/kv?key=k`;
  const app = `http://127.0.0.1:${appPort}/?key=k`;
  for (const url of [spike, app, `http://127.0.0.1:${listen}/kv?key=k`]) {
    const body = await (await fetch(url)).text();
    if (body !== '{"n":1}') throw new Error(`jspi-workload: ${url} answered ${body}`);
  }
  const label = `spike (${guest}, ${workers} workers x ${instances} instances, kv ${store})`;
  line(`${label} vs Node app + @dapr/dapr`, await interleavedThroughput(spike, app));
  line(`${label} vs bare fastify + ioredis`, await interleavedThroughput(spike, `http://127.0.0.1:${barePort}/v1.0/state/redisstore/k`));
  line(`mortar up today (${guest}) vs Node app + @dapr/dapr`, await interleavedThroughput(`http://127.0.0.1:${listen}/kv?key=k`, app));
} finally {
  // The sidecar last: the Node app fails on a connection its sidecar closes under it.
  for (const p of procs.reverse()) await stop(p);
}
