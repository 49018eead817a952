/**
 * The worker side of the test bridge (`app-bridge.ts`): a real runtime (the embedded defaults, its HTTP API on
 * a port) whose `mortar:app` import table (`workloads/app-imports.ts`) serves the calls the workload's imports
 * post. Configured by `MORTAR_BRIDGE_*` environment variables. Test-only: the workload engine has its own.
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import { Runtime } from '../../host/src/runtime.js';
import { DEFAULTS } from '../../host/src/config.js';
import { createLogger } from '../../host/src/logger.js';
import { appImportTable } from '../../host/src/workloads/app-imports.js';

const env = process.env;
const appId = env.MORTAR_BRIDGE_APP_ID ?? 'workload';
const rt = new Runtime(
  {
    appId,
    appProtocol: 'http',
    appChannelAddress: '127.0.0.1',
    disableInitEndpoints: [],
    httpPort: Number(env.MORTAR_BRIDGE_HTTP_PORT ?? 0),
    grpcPort: 0,
    listenAddresses: ['127.0.0.1'],
    resourcePaths: [],
    dataDir: env.MORTAR_BRIDGE_DATA_DIR ?? '.',
    logLevel: 'silent',
    maxBodyBytes: DEFAULTS.maxBodyBytes,
    gracefulShutdownSeconds: 1,
    instances: 1,
    componentCallTimeoutMs: DEFAULTS.componentCallTimeoutMs,
    componentMemoryBytes: DEFAULTS.componentMemoryBytes,
    pollMs: 200,
  },
  createLogger('silent', appId),
);

interface Call {
  op: string;
  args: unknown[];
  flag: Int32Array;
}

const port = (workerData as { port: MessagePort }).port;
const started = rt.start();
const table = started.then(() => appImportTable(rt.api, { appId, transport: 'wasm' }));
port.on('message', (m: Call) => {
  table
    .then((t) => {
      const f = t[m.op];
      if (!f) throw { tag: 'internal', val: { code: 'ERR_INTERNAL', message: `no operation ${m.op}` } };
      return f(m.args);
    })
    .then(
      (value) => port.postMessage({ ok: true, value }),
      (error: unknown) => port.postMessage({ ok: false, error }),
    )
    .finally(() => {
      Atomics.store(m.flag, 0, 1);
      Atomics.notify(m.flag, 0);
    });
});
