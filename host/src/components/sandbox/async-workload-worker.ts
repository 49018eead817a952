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
import {
  type AsyncWorkloadControl,
  type AsyncWorkloadControlReply,
  type AsyncWorkloadReply,
  type AsyncWorkloadRequest,
  type AsyncWorkloadSlot,
  type AsyncWorkloadWorkerData,
  LOCAL_REQUEST_IDS,
  type LocalServe,
  MAX_WAITING,
  replyError,
  type RunningListener,
  type WorkerListener,
  type WorkerListenerModule,
} from './async-workload-protocol.js';
import { MortarError } from '../../errors.js';
import { limits as httpLimits, type OutboundRequest, type WorkloadRequest, type WorkloadResponse } from './wasi-http.js';
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
  /** The `component` it is an instance of. */
  generation: number;
}

/**
 * The component the worker makes instances of: `swap` (a changed `.wasm`) replaces it, and each instance of
 * the one before is dropped once its request is done. The worker, and its listener, go on.
 */
let component: Component = { dir: init.dir, modules: init.modules, generation: 0 };
let generations = 0;

interface Component {
  readonly dir: string;
  readonly modules: Readonly<Record<string, WebAssembly.Module>>;
  /** Its number, never used again (a failed swap's included). */
  readonly generation: number;
}

/** An instance of `of` (the current component unless a swap is trying its first one). */
async function makeSlot(of: Component = component): Promise<Slot> {
  const stdout = lineSink((l) => bridge.log('info', l));
  const stderr = lineSink((l) => bridge.log('warn', l));
  const flush = () => {
    stdout.flush();
    stderr.flush();
  };
  const slot = { n: nextSlot++, announced: 0, deadline: Number.POSITIVE_INFINITY, flush, generation: of.generation } as Slot;
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
  slot.instance = await WorkloadInstance.create(of.dir, of.modules, imports);
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
  if (s.generation !== component.generation) {
    lost(s);
    return;
  }
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

/**
 * Runs request `id` on a free instance and tells `done` how it went (before the instance is made fresh: the
 * reset is not the client's wait); `deadline` is a `Date.now()` time, `local` for a request of the worker's own
 * listener. A guest stopped through its interrupt
 * words (past its deadline) counts as expired.
 */
async function run(id: number, request: WorkloadRequest, deadline: number, done: (r: AsyncWorkloadReply) => void, local = false): Promise<void> {
  let slot: Slot;
  try {
    slot = await take();
  } catch (err) {
    return done({ id, ok: false, kind: 'trap', message: `no instance could be made: ${err instanceof Error ? err.message : String(err)}` });
  }
  slot.deadline = deadline - Date.now() + performance.now();
  let reply: AsyncWorkloadReply;
  let trapped = false;
  try {
    if (slot.deadline <= performance.now()) {
      give(slot);
      return done({ id, ok: false, kind: 'expired', message: 'the request waited past its deadline' });
    }
    slot.instance.serving(id);
    busy.set(id, slot);
    reply = { id, ok: true, value: await slot.instance.handle(request) };
  } catch (err) {
    trapped = true;
    reply = slot.instance.interrupted(id)
      ? { id, ok: false, kind: 'expired', message: 'stopped at its deadline' }
      : { id, ok: false, kind: 'trap', message: err instanceof Error ? err.message : String(err) };
  } finally {
    busy.delete(id);
    slot.instance.serving(0);
    slot.flush();
    slot.deadline = Number.POSITIVE_INFINITY;
  }
  done(reply);
  // A local answer is written a few promise steps from here (a posted one went with `done`).
  if (local) await new Promise((r) => setImmediate(r));
  await recycle(slot, trapped);
}

/** The instances serving a request, by its id. */
const busy = new Map<number, Slot>();

async function recycle(slot: Slot, trapped: boolean): Promise<void> {
  // An instance of a component swapped out is not made fresh, only dropped.
  if (trapped || slot.generation !== component.generation) return lost(slot);
  try {
    await slot.instance.renew();
  } catch {
    return lost(slot);
  }
  announce(slot);
  give(slot);
}

function serve(msg: AsyncWorkloadRequest): void {
  // At once, not batched: a guest resumed later in this turn that then computes until the worker is stopped
  // would keep a finished request's answer from ever going.
  void run(msg.id, msg.request, msg.deadline, (r) => port.postMessage(r));
}

let nextLocal = LOCAL_REQUEST_IDS;

/**
 * A request from the worker's own listener (`WorkerListener`), answered as `AsyncWorkloadPool.handle` answers
 * one: at its deadline `ERR_COMPONENT_TIMEOUT` (its guest, if suspended, is stopped through its interrupt words
 * here; one computing is stopped so by the pool's watchdog), a trap `ERR_COMPONENT_TRAPPED`, past `MAX_WAITING`
 * waiting `ERR_COMPONENT_UNAVAILABLE`.
 */
const serveLocal: LocalServe = (request) => {
  if (waiting.length >= MAX_WAITING)
    return Promise.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [init.name, `${MAX_WAITING} requests are already waiting for an instance`]));
  const id = nextLocal;
  nextLocal = id >= 0x7fffffff ? LOCAL_REQUEST_IDS : id + 1;
  return new Promise((resolve, reject) => {
    const fail = (r: Extract<AsyncWorkloadReply, { ok: false }>) => reject(replyError(r, init.name, init.callTimeoutMs));
    const timer = setTimeout(() => {
      busy.get(id)?.instance.stop(id);
      fail({ id, ok: false, kind: 'expired', message: 'its deadline passed' });
    }, init.callTimeoutMs);
    void run(
      id,
      request,
      Date.now() + init.callTimeoutMs,
      (r) => {
        clearTimeout(timer);
        if (r.ok) resolve(r.value);
        else fail(r);
      },
      true,
    );
  });
};

let listening: RunningListener | undefined;
let controls: Promise<void> = Promise.resolve();

/** Starts listener `l` (once); answers whether it listens, and why not. */
async function listen(l: WorkerListener): Promise<{ listening: boolean; message?: string }> {
  if (listening) return { listening: true };
  try {
    const mod = (await import(l.module)) as WorkerListenerModule;
    listening = await mod.startListener(l.options, serveLocal, (level, line) => bridge.log(level, line));
    return { listening: true };
  } catch (err) {
    return { listening: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Makes instances of `to` from now on, once one could be made; until then, and if none can be, requests go on
 * getting instances of the component as it was.
 */
async function swap(to: { dir: string; modules: Readonly<Record<string, WebAssembly.Module>> }): Promise<AsyncWorkloadControlReply> {
  if (to.dir === component.dir) return { swapped: true };
  const next: Component = { ...to, generation: ++generations };
  made++;
  let first: Slot;
  try {
    first = await makeSlot(next);
  } catch (err) {
    made--;
    return { swapped: false, message: err instanceof Error ? err.message : String(err) };
  }
  component = next;
  for (const old of free.splice(0)) lost(old);
  give(first);
  return { swapped: true };
}

async function control(c: AsyncWorkloadControl): Promise<AsyncWorkloadControlReply> {
  if ('swap' in c) return swap(c.swap);
  if ('listen' in c) return listen(c.listen);
  const l = listening;
  listening = undefined;
  await l?.close(c.unlisten);
  return { unlistened: true };
}

(async () => {
  // The first instance before `ready`: a component that cannot be instantiated fails the pool's start.
  made++;
  free.push(await makeSlot());
  port.on('message', (msg: AsyncWorkloadRequest | AsyncWorkloadRequest[] | AsyncWorkloadControl) => {
    // One at a time, answered in order (the pool matches answers so); one that fails still answers.
    if ('listen' in msg || 'unlisten' in msg || 'swap' in msg)
      controls = controls
        .then(() => control(msg))
        .catch((err: unknown): AsyncWorkloadControlReply => ({ failed: err instanceof Error ? err.message : String(err) }))
        .then((r) => port.postMessage(r));
    else eachMessage(msg, serve);
  });
  // A listener it starts with (a worker replacing one): one that cannot listen still serves what the pool posts.
  const listenError = init.listener ? (await listen(init.listener)).message : undefined;
  port.postMessage({ ready: true, listenError });
})().catch((err: unknown) => {
  port.postMessage({ ready: false, message: err instanceof Error ? err.message : String(err) });
});
