/**
 * Entry point of an async workload worker (`async-workload-pool.ts`): up to `instances` instances of a Wasm
 * HTTP workload whose glue runs on JSPI (`async-imports.ts`), serving that many requests at once. A request
 * takes a free instance, runs the guest's `handle`, and while the guest waits on a host call (key-value,
 * variables, config, `mortar:app`: `async-bridge-client.ts`) it is suspended and the thread serves other
 * requests. After each request the instance is made fresh (`WorkloadInstance.renew`) before it serves again.
 *
 * A trap fails its request and drops its instance only (a new one is made on demand); the others go on. A
 * guest that computes past its deadline holds the thread: the pool stops it through its instance's interrupt
 * words (`wasm-interrupt.ts`), so it traps at its next loop head and the thread goes on; a guest whose module
 * could not be made interruptible is stopped by terminating the worker. Outbound HTTP
 * goes over the same bridge, and the guest waits for its answer on a pollable, suspended like any host call
 * (`wasi-io.ts` `waits`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AsyncBridgeClient } from './async-bridge-client.js';
import type { AsyncWorkloadReply, AsyncWorkloadRequest, AsyncWorkloadSlot, AsyncWorkloadWorkerData } from './async-workload-protocol.js';
import { limits as httpLimits, type OutboundRequest, type WorkloadResponse } from './wasi-http.js';
import { eachMessage } from '../../capabilities/port-batch.js';
import { lineSink, waits } from './wasi-io.js';
import { WorkloadInstance } from './workload-instance.js';
import { workloadWasi } from './workload-wasi.js';

const init = workerData as AsyncWorkloadWorkerData;
const port = parentPort!;
httpLimits.responseBodyBytes = init.responseBodyBytes;
httpLimits.outboundBodyBytes = init.outboundBodyBytes;

// Pollables wait by promise here: a guest waiting on a clock or an outbound response holds its instance only.
waits.async = true;
const bridge = new AsyncBridgeClient(init.bridge);

/** One instance with its own imports: its host calls carry its own request's deadline, its stdio its own lines. */
interface Slot {
  /** Its number, for the pool (`AsyncWorkloadSlot`). */
  readonly n: number;
  /** The instantiation whose interrupt words the pool has (`WorkloadInstance.stats.instantiations`). */
  announced: number;
  instance: WorkloadInstance;
  /** Deadline (`performance.now()` ms) of the request it serves; Infinity between requests. */
  deadline: number;
  readonly flush: () => void;
}

async function makeSlot(): Promise<Slot> {
  const stdout = lineSink((l) => bridge.log('info', l));
  const stderr = lineSink((l) => bridge.log('warn', l));
  const flush = () => {
    stdout.flush();
    stderr.flush();
  };
  const slot = { n: nextSlot++, announced: 0, deadline: Number.POSITIVE_INFINITY, flush } as Slot;
  const left = () => Math.min(init.importTimeoutMs, slot.deadline - performance.now());
  const imports = await workloadWasi({
    name: init.name,
    environment: init.environment,
    stdout,
    stderr,
    deadline: () => slot.deadline,
    send: (req: OutboundRequest) => bridge.perform('http.send', [req], left()) as Promise<WorkloadResponse>,
    call: (op, args) => bridge.perform(op, args, left()),
    appCallBytes: init.appCallBytes,
  });
  slot.instance = await WorkloadInstance.create(init.dir, init.modules, imports);
  announce(slot);
  return slot;
}

let nextSlot = 1;

/** Gives the pool the interrupt words of `slot`'s instance, if it has not got these yet (a new instantiation). */
function announce(slot: Slot): void {
  const n = slot.instance.stats.instantiations;
  if (slot.announced === n) return;
  slot.announced = n;
  const buffers = slot.instance.interruptBuffers;
  if (buffers.length > 0) port.postMessage({ slot: slot.n, buffers } satisfies AsyncWorkloadSlot);
}

const free: Slot[] = [];
const waiting: Array<{ resolve: (s: Slot) => void; reject: (e: unknown) => void }> = [];
/** Instances made or being made. */
let made = 0;

function take(): Promise<Slot> {
  const s = free.pop();
  if (s) return Promise.resolve(s);
  if (made < init.instances) {
    made++;
    return makeSlot().catch((err: unknown) => {
      made--;
      throw err;
    });
  }
  return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
}

function give(s: Slot): void {
  const w = waiting.shift();
  if (w) w.resolve(s);
  else free.push(s);
}

/** An instance is gone (its request trapped, or it could not be made fresh): one waiting request gets a new one. */
function lost(slot: Slot): void {
  if (slot.announced > 0 && slot.instance.interruptBuffers.length > 0) port.postMessage({ slotGone: slot.n } satisfies AsyncWorkloadSlot);
  made--;
  const w = waiting.shift();
  if (!w) return;
  made++;
  makeSlot().then(w.resolve, (err: unknown) => {
    made--;
    // None can be made now: every waiting request fails, rather than wait out its deadline.
    w.reject(err);
    for (const other of waiting.splice(0)) other.reject(err);
  });
}

async function serve(msg: AsyncWorkloadRequest): Promise<void> {
  // At once, not batched: a guest resumed later in this turn that then computes until the worker is stopped
  // would keep a finished request's answer from ever going.
  const reply = (r: AsyncWorkloadReply) => port.postMessage(r);
  let slot: Slot;
  try {
    slot = await take();
  } catch (err) {
    reply({ id: msg.id, ok: false, kind: 'trap', message: `no instance could be made: ${err instanceof Error ? err.message : String(err)}` });
    return;
  }
  slot.deadline = msg.deadline - Date.now() + performance.now();
  let trapped = false;
  try {
    if (slot.deadline <= performance.now()) {
      reply({ id: msg.id, ok: false, kind: 'expired', message: 'the request waited past its deadline' });
      give(slot);
      return;
    }
    slot.instance.serving(msg.id);
    const value = await slot.instance.handle(msg.request);
    reply({ id: msg.id, ok: true, value });
  } catch (err) {
    trapped = true;
    const message = slot.instance.interrupted(msg.id) ? 'stopped at its deadline' : err instanceof Error ? err.message : String(err);
    reply({ id: msg.id, ok: false, kind: 'trap', message });
  } finally {
    slot.instance.serving(0);
    slot.flush();
    slot.deadline = Number.POSITIVE_INFINITY;
  }
  if (trapped) return lost(slot);
  try {
    await slot.instance.renew();
  } catch {
    return lost(slot);
  }
  announce(slot);
  give(slot);
}

(async () => {
  // The first instance before `ready`: a component that cannot be instantiated fails the pool's start.
  made++;
  free.push(await makeSlot());
  port.on('message', (msg: AsyncWorkloadRequest | AsyncWorkloadRequest[]) => eachMessage(msg, (one) => void serve(one)));
  port.postMessage({ ready: true });
})().catch((err: unknown) => {
  port.postMessage({ ready: false, message: err instanceof Error ? err.message : String(err) });
});
