// A worker of the JSPI spike (README.md): its own HTTP listener (SO_REUSEPORT, Node >= 22.12), `instances`
// instances of the JSPI guest (`art/`), mortar's own `WorkloadInstance`s, each serving one request at a time and
// reset to its post-initialisation image after each. The guest's `bucket.get` is async: it suspends the
// instance (JSPI) while this thread serves other requests. The value comes from Redis in this thread (`store: 'redis'`: ioredis, state.redis's own read script) or from a
// constant (`store: 'const'`); no bridge, no store worker; or from a store thread over a MessagePort (`store: 'port'`: `store.mjs`).
import http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { readValue } from './read.mjs';

const { root, port, instances, store, redis: redisAt, script, storePort } = workerData;
const dist = (p) => import(pathToFileURL(join(root, 'dist/host/src/components', p)).href);
const { compiledModules } = await dist('sandbox/compiled-modules.js');
const { workloadWasi } = await dist('sandbox/workload-wasi.js');
const { WorkloadInstance } = await dist('sandbox/workload-instance.js');
const art = join(root, 'bench/spikes/jspi-workload/art');

const [redisHost, redisPort] = redisAt.split(':');
const redis = store === 'redis' ? new Redis({ host: redisHost, port: Number(redisPort) }) : undefined;
const CONST = new TextEncoder().encode('{"n":1}');
/** `port` mode: gets made in one turn go to the store thread as one message; its answer settles them. */
const pending = new Map();
const batch = [];
let nextId = 1;
storePort?.on('message', (answers) => {
  for (const [id, v, error] of answers) {
    const { resolve, reject } = pending.get(id);
    pending.delete(id);
    if (error === undefined) resolve(v);
    else reject(new Error(error));
  }
});
const viaPort = (key) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    if (batch.length === 0) queueMicrotask(() => storePort.postMessage(batch.splice(0)));
    batch.push([id, key]);
  });
const getAsync = store === 'port' ? viaPort : store === 'redis' ? (key) => readValue(redis, script, key) : async () => CONST;
/** mortar's workload imports forward to a host call: `kv.get` answers a promise, which the JSPI glue awaits. */
const call = (op, args) => {
  if (op === 'kv.open') return undefined;
  if (op === 'kv.get') return getAsync(args[1]);
  throw new Error(`jspi-workload: the spike serves no ${op}`);
};
const sink = { write() {}, flush() {} };
const imports = await workloadWasi({
  name: 'orders',
  environment: {},
  stdout: sink,
  stderr: sink,
  deadline: () => performance.now() + 10_000,
  send: () => {
    throw new Error('jspi-workload: no outbound HTTP');
  },
  call,
  appCallBytes: 1 << 20,
});
const modules = await compiledModules(art, 64 << 20, true);
const free = [];
for (let i = 0; i < instances; i++) free.push(await WorkloadInstance.create(art, modules, imports));
const waiting = [];
/** Time spent in the guest's `handle` (awaited: with the suspension) and in resets, ms; requests served. */
const stats = { served: 0, handle: 0, reset: 0 };

async function serve(req, res) {
  const inst = free.pop() ?? (await new Promise((r) => waiting.push(r)));
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
  const t0 = performance.now();
  try {
    const r = await inst.handle({
      method: req.method,
      scheme: 'http',
      authority: req.headers.host ?? '',
      pathWithQuery: req.url,
      headers,
      body: new Uint8Array(0),
    });
    if (r.error) res.writeHead(500).end(r.error);
    else
      res
        .writeHead(
          r.status,
          r.headers.flatMap(([k, v]) => [k, Buffer.from(v)]),
        )
        .end(Buffer.from(r.body ?? []));
  } catch (err) {
    res.writeHead(500).end(String(err));
  }
  const t1 = performance.now();
  // A reset runs before renew() returns (it awaits only to instantiate anew): timed without the wait.
  const renewed = inst.renew();
  stats.handle += t1 - t0;
  stats.reset += performance.now() - t1;
  await renewed;
  stats.served++;
  const next = waiting.shift();
  if (next) next(inst);
  else free.push(inst);
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => serve(req, res));
});
server.keepAliveTimeout = 60_000;
// Listens when main.mjs says so: once every worker has made its instances, so the first answer means all serve.
parentPort.postMessage({ initialised: true });
parentPort.on('message', (m) => {
  if (m === 'listen') server.listen({ port, host: '127.0.0.1', reusePort: true });
  if (m === 'stats') parentPort.postMessage({ stats });
  if (m === 'stop') process.exit(0);
});
