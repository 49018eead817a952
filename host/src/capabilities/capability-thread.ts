/**
 * The capabilities on a thread of their own: every protocol client (ioredis, pg, mysql2, node:sqlite,
 * amqplib, mqtt.js, nats.js) runs there, and the sandboxed instances' bridges are plugged straight into it.
 *
 * Why: the HTTP thread keeps its time for HTTP. Protocol work (parsing Redis replies, serialising bridge
 * answers) no longer runs there (main-thread CPU at the same Redis read throughput: 64% before, 47% after),
 * and the embedded SQLite store's synchronous calls no longer stall the API. A bridge request no longer
 * queues behind HTTP work either; measured Redis read throughput did not change, being bound by the chain
 * of thread hand-offs rather than by any one thread (see the README's benchmarks).
 *
 * The thread starts with the first component that may need it. Log lines come back to the main thread's
 * logger; grants are checked in the thread, against the schema and the granting metadata the registry derived.
 * An exception a protocol client throws on the thread is logged and the thread goes on serving; should the
 * thread die all the same, every bridge plugged into it is gone, and `onExit` tells the runtime.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import type { BridgeHost } from './bridge.js';
import type { CapabilityHost } from './capability-host.js';
import type { LogSink } from './host-endpoint.js';

/** Main thread -> capability thread. */
export type ToCapabilities =
  | { op: 'endpoint'; id: number; component: string; schema: string; metadata: Readonly<Record<string, string>> }
  | { op: 'attach'; id: number; bridge: MessagePort; reply: SharedArrayBuffer }
  | { op: 'close-endpoint'; id: number; rid: number }
  | { op: 'close'; rid: number };

/** Capability thread -> main thread. */
export type FromCapabilities =
  | { op: 'log'; id: number; level: 'trace' | 'debug' | 'info' | 'warn' | 'error'; obj: object; msg: string }
  | { op: 'done'; rid: number };

const WORKER_URL = new URL('./capability-worker.js', import.meta.url);

export class CapabilityThread implements CapabilityHost {
  #worker?: Worker;
  #nextId = 1;
  #nextRequest = 1;
  readonly #loggers = new Map<number, LogSink>();
  readonly #requests = new Map<number, () => void>();

  /** `onExit`: the thread died (not through `close`); components served by it can no longer do I/O. */
  constructor(
    readonly dataDir: string,
    readonly logger: Logger,
    readonly onExit?: (why: string) => void,
  ) {}

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(WORKER_URL, { name: 'm:capabilities', workerData: { dataDir: this.dataDir } });
    w.on('message', (m: FromCapabilities) => {
      if (m.op === 'log') (this.#loggers.get(m.id) ?? this.logger)[m.level](m.obj, m.msg);
      else {
        this.#requests.get(m.rid)?.();
        this.#requests.delete(m.rid);
      }
    });
    w.on('error', (err) => this.logger.error({ err: err.message }, `capability thread failed: ${err.message}`));
    w.on('exit', (code) => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      for (const done of this.#requests.values()) done();
      this.#requests.clear();
      this.onExit?.(`the capability thread exited with code ${code}`);
    });
    this.#worker = w;
    return w;
  }

  #request(w: Worker, msg: { op: 'close-endpoint'; id: number } | { op: 'close' }): Promise<void> {
    const rid = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#requests.set(rid, resolve);
      w.postMessage({ ...msg, rid } satisfies ToCapabilities);
    });
  }

  endpoint(component: string, schema: string, metadata: Readonly<Record<string, string>>, logger: LogSink): BridgeHost {
    const w = this.#thread();
    const id = this.#nextId++;
    this.#loggers.set(id, logger);
    w.postMessage({ op: 'endpoint', id, component, schema, metadata: { ...metadata } } satisfies ToCapabilities);
    return {
      attach: (bridge, reply) => w.postMessage({ op: 'attach', id, bridge, reply } satisfies ToCapabilities, [bridge]),
      close: async () => {
        if (this.#worker === w) await this.#request(w, { op: 'close-endpoint', id });
        this.#loggers.delete(id);
      },
    };
  }

  /** Closes every connection and stops the thread. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    await this.#request(w, { op: 'close' });
    this.#worker = undefined;
    await w.terminate();
  }
}
