/**
 * A pool of async workload workers (`async-workload-worker.ts`): `workers` threads, each serving up to
 * `instancesPerWorker` requests at once on JSPI instances, so a request waiting on a host call holds an
 * instance, not a thread.
 *
 * Requests go to the worker with the fewest in flight; when every worker is full they wait here (not in a
 * worker, which may have to be stopped). Every request has a deadline: its caller gets `ERR_COMPONENT_TIMEOUT`
 * then, whatever the worker is doing. A worker holding a request past its deadline gets no new requests until
 * it answers it. At the deadline the guest is stopped through its instance's interrupt words (`wasm-interrupt.ts`):
 * it traps at its next loop head, and the worker goes on. One that has still not answered `STUCK_AFTER_MS` later
 * is computing where it cannot be stopped so: it is terminated and replaced (requests wait here meanwhile), and the other requests it was
 * serving fail with `ERR_COMPONENT_UNAVAILABLE` (they were suspended inside it). A trap fails its own request
 * only (the worker drops that instance).
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { serveAsyncBridge, type HostEndpoint } from '../../capabilities/bridge.js';
import { MortarError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Artifact } from '../transpile-cache.js';
import {
  type AsyncWorkloadControl,
  type AsyncWorkloadControlReply,
  type AsyncWorkloadReply,
  type AsyncWorkloadRequest,
  type AsyncWorkloadSlot,
  type AsyncWorkloadWorkerData,
  LOCAL_REQUEST_IDS,
  MAX_WAITING,
  replyError,
  type WorkerListener,
} from './async-workload-protocol.js';
import { compiledModules, forgetModules, uninterruptible } from './compiled-modules.js';
import { configureJspiStacks } from './jspi-stacks.js';
import { PortBatch } from '../../capabilities/port-batch.js';
import { WORKER_HEAP } from './worker-heap.js';
import { INTERRUPT_CURRENT, stopIfServing } from '../wasm-interrupt.js';
import type { WorkloadRequest, WorkloadResponse } from './wasi-http.js';
import type { WorkloadWorkerData } from './workload-protocol.js';

const WORKER_URL = new URL('./async-workload-worker.js', import.meta.url);

/** How long past a request's deadline its worker may go on without answering before it is terminated. */
export const STUCK_AFTER_MS = 250;

/** How often the watchdog of the workers' own listeners looks at what their instances serve (ms). */
export const WATCH_MS = 50;

export { MAX_WAITING };

export interface AsyncWorkloadPoolOptions {
  readonly name: string;
  /** The JSPI artifact (`TranspileCache.get(bytes, source, asyncImportsOf(imports))`). */
  readonly artifact: Artifact;
  readonly workers: number;
  readonly instancesPerWorker: number;
  /** Each request's deadline (ms). */
  readonly callTimeoutMs: number;
  readonly memoryLimitBytes: number;
  /** Serves the workers' host calls. */
  readonly endpoint: HostEndpoint;
  readonly data: WorkloadWorkerData;
  readonly logger: Logger;
}

interface Pending {
  readonly id: number;
  readonly request: WorkloadRequest;
  readonly deadline: number;
  readonly resolve: (v: WorkloadResponse | { error: string }) => void;
  readonly reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
  settled: boolean;
  /** Its deadline passed while its worker had it. */
  overdue?: boolean;
  /** Its id was written to the interrupt words of the instance serving it. */
  interrupted?: boolean;
}

interface Member {
  readonly worker: Worker;
  /** Requests to it, posted together per turn of the event loop. */
  readonly outbox: PortBatch<AsyncWorkloadRequest>;
  readonly inflight: Map<number, Pending>;
  dead: boolean;
  /** Requests it holds past their deadline: while any, it may be computing in a guest, and gets no more. */
  overdue: number;
  /** Its instances' interrupt words, by the worker's instance number (`AsyncWorkloadSlot`). */
  readonly slots: Map<number, Int32Array[]>;
  /** The watchdog's view of its instances serving a request of the worker's own listener, by instance number. */
  readonly watched: Map<number, Watched>;
  /** Its `AsyncWorkloadControl`s awaiting an answer, in the order sent (the worker answers them in order). */
  readonly controls: Array<{ readonly control: AsyncWorkloadControl; readonly answer: (r: AsyncWorkloadControlReply) => void }>;
  /** The artifact folder of the component it runs. */
  dir: string;
  /** Being replaced: it gets no new requests, and is stopped once its successor has started. */
  replacing: boolean;
}

/** The answer to `control` from a worker that is gone: none of it was done. */
function gone(control: AsyncWorkloadControl, why: string): AsyncWorkloadControlReply {
  if ('swap' in control) return { swapped: false, message: why };
  if ('listen' in control) return { listening: false, message: why };
  return { unlistened: true };
}

/** Why a control was not done, from its answer; undefined: it was. */
function notDone(r: AsyncWorkloadControlReply): string | undefined {
  if ('failed' in r) return r.failed;
  if ('swapped' in r) return r.swapped ? undefined : (r.message ?? 'not swapped');
  if ('listening' in r) return r.listening ? undefined : (r.message ?? 'not listening');
  return undefined;
}

/** How long a worker may take to make its first instance of a changed component before it is replaced. */
export const SWAP_TIMEOUT_MS = 30_000;

/** A request of a worker's own listener, as the watchdog has seen it on an instance. */
interface Watched {
  readonly id: number;
  /** When the watchdog first saw it (`Date.now()`). */
  readonly since: number;
  /** When its interrupt words were written. */
  stoppedAt?: number;
}

export class AsyncWorkloadPool {
  readonly #opts: AsyncWorkloadPoolOptions;
  readonly #members: Member[] = [];
  readonly #waiting: Pending[] = [];
  #nextId = 1;
  #closed = false;
  /** What every worker listens with (`listen`), a worker started later too. */
  #listener?: WorkerListener;
  #watchdog?: NodeJS.Timeout;
  /** The component the workers run (`swap` replaces it). */
  #artifact: Artifact;
  /** How many times `unlisten` was called (a `listen` it overtook does not listen). */
  #unlistens = 0;
  /** `listen` and `swap`, one at a time. */
  #serial: Promise<unknown> = Promise.resolve();

  constructor(opts: AsyncWorkloadPoolOptions) {
    this.#opts = opts;
    this.#artifact = opts.artifact;
  }

  /** What a request or a call to a closed pool fails with. */
  #unloaded(): MortarError {
    return new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, 'it has been unloaded']);
  }

  #modules(artifact: Artifact): Promise<Record<string, WebAssembly.Module>> {
    return compiledModules(artifact.dir, this.#opts.memoryLimitBytes, true, true);
  }

  /**
   * Whether the workers could listen themselves (`listen`): every core module of the component could be made
   * interruptible, so a guest looping on a worker's thread, the only one answering its sockets, can be stopped.
   */
  async canListen(artifact: Artifact = this.#artifact): Promise<boolean> {
    return !Object.values(await this.#modules(artifact)).some((m) => uninterruptible.has(m));
  }

  /**
   * Runs `artifact` (a changed component's) in the same workers from now on: each makes one instance of it
   * (the first worker before the others: one that cannot rejects, and the pool goes on as it was), then new
   * requests get instances of it, and those of the old one are dropped as their requests finish. The workers
   * and their listeners go on, so no connection is cut. Rejects when the workers listen themselves and the new
   * component cannot be interrupted (`canListen`).
   */
  swap(artifact: Artifact): Promise<void> {
    return this.#oneAtATime(() => this.#swap(artifact));
  }

  #oneAtATime<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#serial.then(run);
    this.#serial = next.catch(() => undefined);
    return next;
  }

  async #swap(artifact: Artifact): Promise<void> {
    if (this.#closed) throw this.#unloaded();
    if (artifact.dir === this.#artifact.dir) return;
    if (this.#listener && !(await this.canListen(artifact)))
      throw new Error('its core modules cannot all be made interruptible, which workers that listen themselves need');
    const to = { dir: artifact.dir, modules: await this.#modules(artifact) };
    const first = this.#members.find((m) => !m.dead && !m.replacing);
    if (first) {
      const why = notDone(await this.#swapOne(first, to));
      if (why !== undefined) throw new Error(why);
    }
    const before = this.#artifact;
    this.#artifact = artifact;
    // Every other worker, those started meanwhile too (they started with the old component).
    await Promise.all(this.#members.filter((m) => !m.dead && !m.replacing && m.dir !== artifact.dir).map((m) => this.#swapOne(m, to)));
    forgetModules(before.dir);
  }

  /**
   * Has `m` run `to`; one that cannot (though the first worker could), or that takes over `SWAP_TIMEOUT_MS`
   * (a component computing at its start), is replaced: its successor starts with the pool's component.
   */
  async #swapOne(m: Member, to: { dir: string; modules: Readonly<Record<string, WebAssembly.Module>> }): Promise<AsyncWorkloadControlReply> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const late = new Promise<AsyncWorkloadControlReply>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve({ swapped: false, message: `it made no instance of the changed component within ${SWAP_TIMEOUT_MS}ms` });
      }, SWAP_TIMEOUT_MS);
    });
    const r = await Promise.race([this.#control(m, { swap: to }), late]);
    clearTimeout(timer);
    const why = notDone(r);
    if (why === undefined) m.dir = to.dir;
    // A worker stuck in the component's start is replaced; so is one left on the old component once the pool
    // runs the new one (the first worker's failure is the swap's: it goes on with the old one).
    else if (timedOut || this.#artifact.dir === to.dir) void this.#replace(m, `it could not run the changed component: ${why}`);
    return r;
  }

  /** Starts every worker (each with its first instance); rejects, and stops them all, if one cannot start. */
  async start(): Promise<void> {
    configureJspiStacks();
    const started = await Promise.allSettled(Array.from({ length: Math.max(1, this.#opts.workers) }, () => this.#spawn()));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await this.close(0);
      throw failed.reason;
    }
  }

  /**
   * Serves `request`. Rejects with a `MortarError`: `ERR_COMPONENT_TIMEOUT` at the deadline,
   * `ERR_COMPONENT_TRAPPED` when the guest trapped, `ERR_COMPONENT_UNAVAILABLE` when the pool is closed or
   * the worker serving it was stopped.
   */
  handle(request: WorkloadRequest): Promise<WorkloadResponse | { error: string }> {
    if (this.#closed) return Promise.reject(this.#unloaded());
    return new Promise((resolve, reject) => {
      // Ids stay positive 32-bit integers (the interrupt words hold them: `wasm-interrupt.ts`), below the
      // workers' own.
      const id = this.#nextId;
      this.#nextId = id >= LOCAL_REQUEST_IDS - 1 ? 1 : id + 1;
      const p: Pending = { id, request, deadline: Date.now() + this.#opts.callTimeoutMs, resolve, reject, settled: false };
      p.timer = setTimeout(() => this.#expire(p), this.#opts.callTimeoutMs);
      this.#dispatch(p);
    });
  }

  /**
   * Has every worker, and every worker started later, run `listener` itself (`WorkerListener`): its clients'
   * requests then go to that worker's instances without passing through this thread. False (and none listens)
   * when a core module could not be made interruptible: a guest looping in a worker's thread would hold the
   * only thread that answers its sockets. Rejects when a worker cannot listen (those that did stop).
   */
  listen(listener: WorkerListener): Promise<boolean> {
    return this.#oneAtATime(() => this.#listen(listener));
  }

  async #listen(listener: WorkerListener): Promise<boolean> {
    if (this.#closed) throw this.#unloaded();
    const unlistens = this.#unlistens;
    if (!(await this.canListen())) return false;
    if (this.#closed) throw this.#unloaded();
    if (this.#unlistens !== unlistens) return false; // unlistened meanwhile
    this.#listener = listener;
    this.#watchdog ??= setInterval(() => this.#watch(), WATCH_MS).unref();
    const answers = await Promise.all(this.#members.map((m) => this.#control(m, { listen: listener })));
    const failed = answers.map(notDone).find((why) => why !== undefined);
    if (failed !== undefined) {
      await this.unlisten(0);
      throw new Error(`workload ${this.#opts.name}: a worker could not listen: ${failed}`);
    }
    return true;
  }

  /** Has every worker stop its own listener (`listen`): in-flight requests finish for at most `graceMs`. */
  async unlisten(graceMs: number): Promise<void> {
    const had = this.#listener;
    this.#listener = undefined;
    this.#unlistens++;
    if (had) await Promise.all(this.#members.map((m) => this.#control(m, { unlisten: graceMs })));
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #control(m: Member, control: AsyncWorkloadControl): Promise<AsyncWorkloadControlReply> {
    if (m.dead) return Promise.resolve(gone(control, 'the worker is gone'));
    return new Promise((answer) => {
      m.controls.push({ control, answer });
      m.worker.postMessage(control);
    });
  }

  /**
   * The watchdog of the workers' own listeners: a request of theirs is stopped through its instance's
   * interrupt words once it has run `callTimeoutMs` (its worker answers it at that deadline itself when its
   * thread is free: this is for a guest computing on it), and its worker is replaced when it still runs
   * `STUCK_AFTER_MS` later.
   */
  #watch(): void {
    const now = Date.now();
    // A copy: `#replace` takes a member out of the list.
    for (const m of [...this.#members]) {
      if (m.dead || m.replacing) continue;
      for (const [n, words] of m.slots) {
        const id = Atomics.load(words[0]!, INTERRUPT_CURRENT);
        const seen = m.watched.get(n);
        if (id < LOCAL_REQUEST_IDS) {
          if (seen) m.watched.delete(n);
          continue;
        }
        if (seen?.id !== id) m.watched.set(n, { id, since: now });
        else if (seen.stoppedAt === undefined) {
          if (now - seen.since < this.#opts.callTimeoutMs) continue;
          stopIfServing(words, id);
          seen.stoppedAt = now;
        } else if (now - seen.stoppedAt >= STUCK_AFTER_MS) {
          void this.#replace(m, `a request ran past its ${this.#opts.callTimeoutMs}ms deadline and could not be stopped`);
          break;
        }
      }
    }
  }

  /** Stops accepting requests, lets those in flight finish (up to `graceMs`), then terminates every worker. */
  async close(graceMs = 5000): Promise<void> {
    const deadline = Date.now() + graceMs;
    this.#closed = true;
    await this.unlisten(graceMs);
    while ((this.#waiting.length > 0 || this.#members.some((m) => m.inflight.size > 0)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const p of this.#waiting.splice(0)) this.#settle(p, this.#unloaded());
    await Promise.all(this.#members.splice(0).map((m) => this.#stop(m, 'the pool was closed')));
  }

  #dispatch(p: Pending): void {
    let best: Member | undefined;
    for (const m of this.#members) {
      if (m.dead || m.replacing || m.overdue > 0 || m.inflight.size >= this.#opts.instancesPerWorker) continue;
      if (!best || m.inflight.size < best.inflight.size) best = m;
    }
    if (!best) {
      if (this.#waiting.length >= MAX_WAITING)
        this.#settle(p, new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, `${MAX_WAITING} requests are already waiting for a worker`]));
      else this.#waiting.push(p);
      return;
    }
    best.inflight.set(p.id, p);
    best.outbox.post({ id: p.id, request: p.request, deadline: p.deadline });
  }

  #onReply(m: Member, r: AsyncWorkloadReply): void {
    const p = m.inflight.get(r.id);
    if (!p) return;
    m.inflight.delete(r.id);
    if (p.overdue) m.overdue--;
    if (r.ok) this.#settle(p, undefined, r.value);
    else this.#settle(p, replyError(r, this.#opts.name, this.#opts.callTimeoutMs));
    this.#next();
  }

  /** Sends waiting requests, oldest first, to workers with room. */
  #next(): void {
    while (this.#waiting.length > 0) {
      const p = this.#waiting[0]!;
      const before = this.#waiting.length;
      this.#waiting.shift();
      this.#dispatch(p);
      if (this.#waiting.length === before) {
        // No room: back at the front, where it was.
        this.#waiting.unshift(this.#waiting.pop()!);
        break;
      }
    }
  }

  #expire(p: Pending): void {
    this.#settle(p, new MortarError('ERR_COMPONENT_TIMEOUT', [this.#opts.name, this.#opts.callTimeoutMs]));
    const queued = this.#waiting.indexOf(p);
    if (queued >= 0) this.#waiting.splice(queued, 1);
    const m = this.#members.find((x) => x.inflight.has(p.id));
    if (!m) return;
    p.overdue = true;
    m.overdue++;
    this.#interrupt(m, p);
    // Its guest's host calls have given up by now; a worker still silent is computing where it cannot be
    // stopped (a module `wasm-interrupt.ts` could not rewrite). One that only now shows the instance serving
    // the request (announced late, or it started the guest after the deadline) gets one more period.
    const stuck = (again: boolean) =>
      setTimeout(() => {
        if (m.dead || m.replacing || !m.inflight.has(p.id)) return;
        if (again && this.#interrupt(m, p)) stuck(false);
        else void this.#replace(m, `a request ran past its ${this.#opts.callTimeoutMs}ms deadline and could not be stopped`);
      }, STUCK_AFTER_MS).unref();
    stuck(true);
  }

  /**
   * Writes `p`'s id to the interrupt words of the instance serving it, if `m` knows them and has not yet: a
   * guest computing in a loop traps at its next loop head, one waiting on a host call when it resumes. True if
   * it wrote them now.
   */
  #interrupt(m: Member, p: Pending): boolean {
    if (p.interrupted) return false;
    for (const words of m.slots.values()) {
      if (!stopIfServing(words, p.id)) continue;
      p.interrupted = true;
      return true;
    }
    return false;
  }

  #settle(p: Pending, err?: Error, value?: WorkloadResponse | { error: string }): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value!);
  }

  async #spawn(): Promise<Member> {
    const o = this.#opts;
    const bridge = new MessageChannel();
    const data: AsyncWorkloadWorkerData = {
      ...o.data,
      name: o.name,
      dir: this.#artifact.dir,
      modules: await this.#modules(this.#artifact),
      instances: o.instancesPerWorker,
      importTimeoutMs: Math.max(1000, o.callTimeoutMs - 500),
      bridge: bridge.port2,
      callTimeoutMs: o.callTimeoutMs,
      listener: this.#listener,
    };
    const worker = new Worker(WORKER_URL, {
      name: 'm:async-workload',
      workerData: data,
      transferList: [bridge.port2],
      resourceLimits: WORKER_HEAP,
      stdout: false,
      stderr: false,
    });
    serveAsyncBridge(bridge.port1, o.endpoint);
    const member: Member = {
      worker,
      outbox: new PortBatch(worker),
      inflight: new Map(),
      dead: false,
      overdue: 0,
      slots: new Map(),
      watched: new Map(),
      controls: [],
      dir: data.dir,
      replacing: false,
    };
    type Ready = { ready: boolean; message?: string; listenError?: string };
    // Listening from the start: the worker announces its first instance before it says it is ready.
    worker.on('message', (r: AsyncWorkloadReply | AsyncWorkloadSlot | AsyncWorkloadControlReply | Ready) => {
      if ('ready' in r) {
        if (r.listenError)
          o.logger.warn({ workload: o.name }, `workload ${o.name}: a worker could not listen itself (it serves only what the pool sends it): ${r.listenError}`);
        return;
      }
      if ('listening' in r || 'unlistened' in r || 'swapped' in r || 'failed' in r) member.controls.shift()?.answer(r);
      else if ('slot' in r) {
        member.slots.set(
          r.slot,
          r.buffers.map((b) => new Int32Array(b)),
        );
        // Announced after a deadline passed: the request may be on it.
        for (const p of member.inflight.values()) if (p.overdue) this.#interrupt(member, p);
      } else if ('slotGone' in r) {
        member.slots.delete(r.slotGone);
        member.watched.delete(r.slotGone);
      } else this.#onReply(member, r);
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      const onExit = (code: number) => reject(new Error(`the worker exited with code ${code} before it was ready`));
      const onReady = (m: Ready | object) => {
        if (!('ready' in m)) return;
        worker.off('message', onReady);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (m.ready) resolve();
        else reject(new Error(m.message));
      };
      worker.on('message', onReady);
      worker.once('error', onError);
      worker.once('exit', onExit);
    })
      .then(() => {
        // Closed while it started (a replacement racing `close`): not kept.
        if (this.#closed) throw this.#unloaded();
      })
      .catch(async (err: unknown) => {
        bridge.port1.close();
        await worker.terminate();
        throw err;
      });
    worker.on('error', (err) => void this.#replace(member, `worker error: ${err.message}`));
    worker.on('exit', (code) => {
      bridge.port1.close();
      if (!member.dead) {
        // What it was serving or asked cannot be done now, whether or not a successor is on its way.
        for (const { control, answer } of member.controls.splice(0)) answer(gone(control, `the worker exited with code ${code}`));
        void this.#replace(member, `worker exited with code ${code}`);
      }
    });
    this.#members.push(member);
    // `swap`, `listen` or `unlisten` came while it started (a swap that cannot run on it replaces it).
    const artifact = this.#artifact;
    if (artifact.dir !== data.dir) void this.#modules(artifact).then((modules) => this.#swapOne(member, { dir: artifact.dir, modules }));
    if (this.#listener !== data.listener) void this.#control(member, this.#listener ? { listen: this.#listener } : { unlisten: 0 });
    this.#next();
    return member;
  }

  /** Stops `m`, failing what it was serving, and starts another worker in its place. */
  async #replace(m: Member, why: string): Promise<void> {
    if (m.dead || m.replacing) return;
    m.replacing = true;
    this.#opts.logger.warn({ workload: this.#opts.name, inflight: m.inflight.size }, `workload ${this.#opts.name}: worker stopped: ${why}`);
    if (this.#listener) {
      // Its successor joins the address first: the address is not left without a listener meanwhile. It stays
      // a member till then (`close` and `unlisten` reach it), taking no new requests.
      await this.#respawn(0);
    }
    const i = this.#members.indexOf(m);
    if (i >= 0) this.#members.splice(i, 1);
    await this.#stop(m, why);
    if (!this.#listener) await this.#respawn(0);
  }

  /** Starts a worker in a stopped one's place; retried with back-off while it fails (requests waiting then fail with 503). */
  async #respawn(attempt: number): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#spawn();
    } catch (err) {
      if (this.#closed) return;
      this.#opts.logger.error({ workload: this.#opts.name, err: String(err) }, `workload ${this.#opts.name}: could not start a worker`);
      if (!this.#members.some((x) => !x.dead))
        for (const p of this.#waiting.splice(0))
          this.#settle(p, new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, `no worker could be started: ${String(err)}`]));
      setTimeout(() => void this.#respawn(attempt + 1), Math.min(5000, 100 * 2 ** attempt)).unref();
    }
  }

  async #stop(m: Member, why: string): Promise<void> {
    m.dead = true;
    // What it was asked is not done (its listener, if it had one, is gone with it).
    for (const { control, answer } of m.controls.splice(0)) answer(gone(control, `the worker was stopped: ${why}`));
    for (const p of m.inflight.values())
      this.#settle(p, new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, `the worker serving the request was stopped: ${why}`]));
    m.inflight.clear();
    await m.worker.terminate();
  }
}
