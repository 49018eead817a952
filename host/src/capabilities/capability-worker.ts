/**
 * Entry point of the capability thread (see `capability-thread.ts`): keeps one endpoint per component and
 * serves every bridge plugged into it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InThreadCapabilities } from './capability-host.js';
import type { BridgeHost } from './bridge.js';
import type { FromCapabilities, ToCapabilities } from './capability-thread.js';
import type { LogSink } from './host-endpoint.js';

const port = parentPort!;
const capabilities = new InThreadCapabilities((workerData as { dataDir: string }).dataDir);
const endpoints = new Map<number, BridgeHost>();

function post(m: FromCapabilities): void {
  port.postMessage(m);
}

/** Log lines go to the main thread's logger for this component. */
function remoteLog(id: number): LogSink {
  const at = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error') => (obj: object, msg: string) => post({ op: 'log', id, level, obj, msg });
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

// A protocol client that throws outside any call (an unhandled 'error' event, a rejected promise nobody
// awaited) must not take every other component's I/O down with it: log it (id 0: the runtime's logger).
process.on('uncaughtException', (err) =>
  post({ op: 'log', id: 0, level: 'error', obj: { err: String(err) }, msg: `capability thread: uncaught exception: ${String(err)}` }),
);
process.on('unhandledRejection', (err) =>
  post({ op: 'log', id: 0, level: 'error', obj: { err: String(err) }, msg: `capability thread: unhandled rejection: ${String(err)}` }),
);

port.on('message', (m: ToCapabilities) => {
  switch (m.op) {
    case 'endpoint':
      endpoints.set(m.id, capabilities.endpoint(m.component, m.schema, m.metadata, remoteLog(m.id)));
      return;
    case 'attach': {
      const endpoint = endpoints.get(m.id);
      if (endpoint) endpoint.attach(m.bridge, m.reply);
      else m.bridge.close();
      return;
    }
    case 'close-endpoint': {
      const endpoint = endpoints.get(m.id);
      endpoints.delete(m.id);
      void (endpoint?.close() ?? Promise.resolve()).catch(() => undefined).then(() => post({ op: 'done', rid: m.rid }));
      return;
    }
    case 'close':
      void Promise.all([...endpoints.values()].map((e) => e.close().catch(() => undefined)))
        .then(() => capabilities.close())
        .catch(() => undefined)
        .then(() => post({ op: 'done', rid: m.rid }));
  }
});
