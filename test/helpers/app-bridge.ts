/**
 * A synchronous bridge from a workload's `mortar:app` imports to a real runtime on a worker thread, for tests
 * that serve a built workload with `jco serve` before the workload engine exists: each import posts its
 * operation and blocks in `Atomics.wait` until the worker's `appImportTable` answers, then returns the `ok`
 * value or throws the `app-error` (jco hands a thrown non-Error to the guest as the result's `err`).
 * `bridgeModules` writes the modules `jco serve --jco-map` maps each `mortar:app/<interface>` to.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { APP_INTERFACES, APP_PACKAGE_VERSION } from '../../host/src/workloads/app-imports.js';

let port: MessagePort | undefined;

/** Performs operation `op` (`state.get`) with `args` on the worker's runtime, blocking until it answers. */
export function call(op: string, args: unknown[]): unknown {
  if (!port) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(fileURLToPath(new URL('./app-bridge-worker.js', import.meta.url)), { workerData: { port: port2 }, transferList: [port2] });
    worker.unref();
    port = port1;
  }
  const flag = new Int32Array(new SharedArrayBuffer(4));
  port.postMessage({ op, args, flag });
  Atomics.wait(flag, 0, 0);
  // The worker posts its answer before it raises the flag.
  const m = receiveMessageOnPort(port)?.message as { ok: boolean; value?: unknown; error?: unknown } | undefined;
  if (!m) throw new Error(`bridge: no answer to ${op}`);
  if (!m.ok) throw m.error;
  return m.value;
}

/** Writes one module per `mortar:app` interface into `dir`; returns the `--jco-map` arguments for them. */
export function bridgeModules(dir: string): string[] {
  const bridge = pathToFileURL(fileURLToPath(import.meta.url)).href;
  const jco = (wit: string) => wit.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  const maps: string[] = [];
  for (const [iface, fns] of [...Object.entries(APP_INTERFACES), ['types', []] as const]) {
    const lines = [`import { call } from ${JSON.stringify(bridge)};`];
    for (const fn of fns as readonly string[]) {
      const name = jco(fn);
      lines.push(`function f_${name}(...a) { return call(${JSON.stringify(`${iface}.${fn}`)}, a); }`, `export { f_${name} as ${name} };`);
    }
    const file = join(dir, `mortar-app-${iface}.mjs`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    maps.push(`mortar:app/${iface}@${APP_PACKAGE_VERSION}=${file}`);
  }
  return maps;
}
