// The JSPI spike's measurement (README.md): the spike's server against the workloads benchmark's own sides (`withWorkloadSides`), interleaved as
// `npm run bench` does: the Node app + @dapr/dapr on `mortar up`'s sidecar, and bare fastify + ioredis; then
// `mortar up`'s own workload against the Node app, for reference. The guest (`quickjs-http` by default) serves
// `/kv?key=k`.
//   node bench/spikes/jspi-workload/drive.mjs [workers] [instances] [redis|const] [guest]
// (the guest as transpile.mjs last transpiled it)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, interleavedThroughput, resources } from '../../lib.mjs';
import { withWorkloadSides } from '../../workloads.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const REDIS = process.env.MORTAR_TEST_REDIS ?? '127.0.0.1:6379';
const [workers = '2', instances = '16', store = 'redis', guest = 'quickjs-http'] = process.argv.slice(2);
const node = process.execPath;
const marker = join(root, 'bench/spikes/jspi-workload/art/guest');
const transpiled = existsSync(marker) ? readFileSync(marker, 'utf8') : undefined;
if (transpiled !== guest) throw new Error(`jspi-workload: art/ holds ${transpiled ?? 'nothing'}, not ${guest}: run transpile.mjs ${guest} first`);

const line = (name, r) =>
  console.log(
    `${name}: ${r.value.toFixed(0)} vs ${r.baseline.toFixed(0)} req/s -> ${r.ratio.toFixed(2)}x (rounds ${r.ratios.map((x) => x.toFixed(2)).join(', ')})`,
  );
await withWorkloadSides({ root, BIN: join(root, 'bin/mortar.js'), REDIS, resources }, guest, async ({ workload, dapr, bare }, start) => {
  const port = await freePort();
  const spike = `http://127.0.0.1:${port}/kv?key=k`;
  await start(node, [join(root, 'bench/spikes/jspi-workload/main.mjs'), String(port), workers, instances, store, REDIS], spike);
  const answer = await (await fetch(spike)).text();
  if (answer !== '{"n":1}') throw new Error(`jspi-workload: ${spike} answered ${answer}`);
  const label = `spike (${guest}, ${workers} workers x ${instances} instances, kv ${store})`;
  line(`${label} vs Node app + @dapr/dapr`, await interleavedThroughput(spike, dapr));
  line(`${label} vs bare fastify + ioredis`, await interleavedThroughput(spike, bare));
  line(`mortar up today (${guest}) vs Node app + @dapr/dapr`, await interleavedThroughput(workload, dapr));
});
