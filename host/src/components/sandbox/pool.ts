import { Worker, MessageChannel } from 'node:worker_threads';
import './engine-flags.js';
import { MortarError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Artifact } from '../transpile-cache.js';
import type { BridgeHost } from '../../capabilities/bridge.js';
import { compiledModules } from './compiled-modules.js';
import { areaOf, createAreaBuffer, readArea, type SharedArea } from '../../capabilities/shared-area.js';
import { RESULT_DONE, RESULT_IDLE, RESULT_WAITING, type CallMessage, type ReadyMessage, type ResultMessage, type WorkerInit } from './protocol.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
/**
 * How long a call into an idle instance is awaited synchronously (spinning) before falling back to the
 * asynchronous path. At low load this saves the main thread an event-loop wake per call; the spin is
 * bounded, happens only when nothing else is in flight, and never waits on a busy instance.
 */
const SYNC_SPIN_MS = 0.3;
/**
 * Read batches kept going at once per instance of a component that exports `read-plan`: its reads do not
 * block the instance, so a second batch is planned and sent while the first one's reply is on its way.
 * Measured in interleaved A/B runs of the sidecar under load (state.redis GET): two beat one by about 10%;
 * three and four gain nothing more.
 */
const PLANNED_READS_PER_INSTANCE = 2;

export interface PoolOptions {
  readonly name: string;
  readonly artifact: Artifact;
  /** Most instances (workers) the pool runs. It starts with one and grows while every instance is busy. */
  readonly size: number;
  /** A call making no progress for this long gets its instance killed and replaced. */
  readonly callTimeoutMs: number;
  readonly memoryLimitBytes: number;
  /** Where each instance's host imports are served. */
  readonly host: BridgeHost;
  readonly logger: Logger;
  /** Run on every new instance before it serves calls (for example `lifecycle.init(metadata)`). */
  readonly prepare?: (call: (iface: string, fn: string, args: unknown[]) => Promise<unknown>) => Promise<void>;
}

/** A failed call: the component's own WIT error (`{tag, val}`) for `kind: 'error'`. */
export class ComponentCallError extends Error {
  constructor(readonly error: { tag: string; val?: unknown }) {
    super(typeof error?.val === 'string' ? error.val : String(error?.tag));
    this.name = 'ComponentCallError';
  }
}

interface Pending {
  readonly msg: CallMessage;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/** The shared memory between the main thread and one worker (see `WorkerInit`). */
interface SlotBuffers { readonly reply: SharedArrayBuffer; readonly calls: SharedArrayBuffer; readonly result: SharedArrayBuffer }

/** One worker thread running one instance. */
class Slot {
  readonly inflight = new Map<number, Pending>();
  lastProgress = performance.now();
  dead = false;
  /** Word 0 is bumped after every call posted, waking the instance. */
  readonly calls: Int32Array;
  /** Replies awaited by a spinning caller; word 0 is a `RESULT_*` state. */
  readonly result: SharedArea;

  /** `blocksBetweenCalls`: the instance waits on the call word (else in its event loop, which the message wakes). */
  constructor(readonly worker: Worker, buffers: SlotBuffers, readonly blocksBetweenCalls: boolean) {
    this.calls = new Int32Array(buffers.calls);
    this.result = areaOf(buffers.result);
  }

  /** Posts a call and wakes the instance. */
  post(msg: CallMessage): void {
    this.worker.postMessage(msg);
    if (!this.blocksBetweenCalls) return;
    Atomics.add(this.calls, 0, 1);
    Atomics.notify(this.calls, 0);
  }
}

/**
 * A pool of sandboxed instances of one component.
 *
 * Calls go to the instance with the fewest calls in flight. An instance that traps, exceeds its memory
 * limit, or makes no progress for `callTimeoutMs` is terminated and replaced; calls queued behind the failed
 * one (not yet started) are re-sent to a healthy instance, so only the offending call fails.
 */
export class InstancePool {
  readonly #opts: PoolOptions;
  readonly #slots: Slot[] = [];
  readonly #waiting: Pending[] = [];
  #nextId = 1;
  #closed = false;
  #watchdog?: NodeJS.Timeout;
  #growing = 0;
  /** >= 0: calls into an idle pool are awaited by spinning; pushed down by calls that needed host I/O. */
  #spinScore = 0;

  /** The component exports `read-plan`: its instances serve calls from their event loop (see `worker.ts`). */
  readonly #planned: boolean;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.#planned = opts.artifact.exports.includes('readPlan');
  }

  get name(): string { return this.#opts.name; }

  /**
   * Starts the first instance and runs `prepare` on it; rejects (and cleans up) if that fails. More are
   * started on demand (`#grow`), so an idle sidecar holds one instance per component, and one-time setup in
   * `init` (creating a table, say) never races with itself.
   */
  async start(): Promise<void> {
    try {
      await this.#spawn();
    } catch (err) {
      await this.close();
      throw err;
    }
    const period = Math.max(50, Math.min(1000, this.#opts.callTimeoutMs / 4));
    this.#watchdog = setInterval(() => this.#checkProgress(), period);
    this.#watchdog.unref();
  }

  /** Calls export `iface.fn`. Rejects with `ComponentCallError` (the component's WIT error) or a `MortarError`. */
  call(iface: string, fn: string, args: unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, 'it has been unloaded']));
    return new Promise((resolve, reject) => {
      this.#dispatch({ msg: { id: this.#nextId++, iface, fn, args }, resolve, reject });
    });
  }

  /** Stops accepting calls, lets in-flight calls finish (up to `graceMs`), then terminates every worker. */
  async close(graceMs = 5000): Promise<void> {
    this.#closed = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    const deadline = Date.now() + graceMs;
    while (this.#slots.some((s) => s.inflight.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const p of this.#waiting.splice(0)) p.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, 'it has been unloaded']));
    await Promise.all(this.#slots.splice(0).map((s) => this.#kill(s)));
  }

  #dispatch(p: Pending): void {
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (s.dead) continue;
      if (!best || s.inflight.size < best.inflight.size) best = s;
    }
    if (!best) {
      this.#waiting.push(p);
      return;
    }
    if (best.inflight.size > 0) this.#grow();
    const idle = this.#spinScore >= 0 && this.#slots.every((x) => x.inflight.size === 0);
    if (best.inflight.size === 0) best.lastProgress = performance.now();
    best.inflight.set(p.msg.id, p);
    if (!idle) {
      // A component that gave up its spins gets another chance now and then.
      if (this.#spinScore < 0) this.#spinScore++;
      best.post(p.msg);
      return;
    }
    // Nothing in flight anywhere: wait for this reply synchronously, briefly.
    Atomics.store(best.result.words, 0, RESULT_WAITING);
    best.post({ ...p.msg, sync: true });
    const deadline = performance.now() + SYNC_SPIN_MS;
    for (;;) {
      const state = Atomics.load(best.result.words, 0);
      if (state === RESULT_DONE) break;
      if (state === RESULT_IDLE) {
        // Released by the instance: it needs our I/O (a host import) or its reply does not fit the area. The
        // reply comes as a message; spinning for a component that does I/O only delays that I/O, so stop
        // spinning for it until it pays off again.
        this.#spinScore = Math.max(-64, this.#spinScore - 32);
        return;
      }
      if (performance.now() < deadline) continue;
      // Give up unless the instance has started writing the reply, in which case it is moments away.
      if (Atomics.compareExchange(best.result.words, 0, RESULT_WAITING, RESULT_IDLE) === RESULT_WAITING) return;
    }
    this.#spinScore = Math.min(8, this.#spinScore + 1);
    const reply = readArea(best.result) as ResultMessage;
    Atomics.store(best.result.words, 0, RESULT_IDLE);
    this.#onResult(best, reply);
  }

  /** Starts one more instance when every instance is busy and the pool is below its size. */
  #grow(): void {
    if (this.#closed || this.#growing > 0 || this.#slots.length + this.#growing >= this.#opts.size) return;
    this.#growing++;
    this.#spawn().then(
      () => { this.#growing--; },
      (err: unknown) => {
        this.#growing--;
        this.#opts.logger.warn({ component: this.#opts.name, err: String(err) }, `component ${this.#opts.name}: could not start another instance`);
      },
    );
  }

  async #spawn(): Promise<Slot> {
    const { port1, port2 } = new MessageChannel();
    const buffers: SlotBuffers = { reply: createAreaBuffer(), calls: new SharedArrayBuffer(4), result: createAreaBuffer() };
    const init: WorkerInit = {
      name: this.#opts.name,
      dir: this.#opts.artifact.dir,
      modules: await compiledModules(this.#opts.artifact.dir, this.#opts.memoryLimitBytes),
      importTimeoutMs: Math.max(1000, this.#opts.callTimeoutMs - 500),
      reply: buffers.reply,
      bridge: port2,
      calls: buffers.calls,
      result: buffers.result,
    };
    const worker = new Worker(WORKER_URL, {
      workerData: init,
      transferList: [port2],
      // The JS heap of the glue is small; Wasm memory is capped separately by `limitMemory`.
      resourceLimits: { maxOldGenerationSizeMb: 128 },
      stdout: false,
      stderr: false,
    });
    const slot = new Slot(worker, buffers, !this.#planned);
    this.#opts.host.attach(port1, buffers.reply);

    await new Promise<void>((resolve, reject) => {
      const onFirst = (m: ReadyMessage) => {
        worker.off('error', onError);
        if (m.ready) resolve();
        else reject(new Error(m.message));
      };
      const onError = (e: Error) => reject(e);
      worker.once('message', onFirst);
      worker.once('error', onError);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });

    worker.on('message', (m: ResultMessage) => this.#onResult(slot, m));
    worker.on('error', (err) => this.#fail(slot, `worker error: ${err.message}`));
    worker.on('exit', (code) => { if (!slot.dead) this.#fail(slot, `worker exited with code ${code}`); });

    if (this.#opts.prepare) {
      // prepare's calls go to this instance only, and get the same no-progress deadline as any call.
      const timeoutMs = this.#opts.callTimeoutMs;
      const direct = (iface: string, fn: string, args: unknown[]) => new Promise((resolve, reject) => {
        const p: Pending = { msg: { id: this.#nextId++, iface, fn, args }, resolve, reject };
        const timer = setTimeout(() => {
          slot.inflight.delete(p.msg.id);
          reject(new MortarError('ERR_COMPONENT_TIMEOUT', [this.#opts.name, timeoutMs]));
        }, timeoutMs);
        slot.inflight.set(p.msg.id, { ...p, resolve: (v) => { clearTimeout(timer); resolve(v); }, reject: (e) => { clearTimeout(timer); reject(e); } });
        slot.post(p.msg);
      });
      try {
        await this.#opts.prepare(direct);
      } catch (err) {
        slot.dead = true;
        await worker.terminate();
        throw err;
      }
    }
    this.#slots.push(slot);
    for (const p of this.#waiting.splice(0)) this.#dispatch(p);
    return slot;
  }

  #onResult(slot: Slot, m: ResultMessage): void {
    const p = slot.inflight.get(m.id);
    if (!p) return;
    slot.inflight.delete(m.id);
    slot.lastProgress = performance.now();
    if (m.ok) {
      p.resolve(m.value);
    } else if (m.kind === 'error') {
      p.reject(new ComponentCallError(m.error as { tag: string; val?: unknown }));
    } else {
      p.reject(new MortarError('ERR_COMPONENT_TRAPPED', [this.#opts.name, m.message]));
      this.#fail(slot, `trapped: ${m.message}`);
    }
  }

  #checkProgress(): void {
    const now = performance.now();
    for (const slot of this.#slots) {
      if (slot.dead || slot.inflight.size === 0) continue;
      if (now - slot.lastProgress > this.#opts.callTimeoutMs) {
        const [first] = slot.inflight.values();
        if (first) {
          slot.inflight.delete(first.msg.id);
          first.reject(new MortarError('ERR_COMPONENT_TIMEOUT', [this.#opts.name, this.#opts.callTimeoutMs]));
        }
        this.#fail(slot, `no progress for ${this.#opts.callTimeoutMs}ms`);
      }
    }
  }

  /** Kills a failed instance, re-sends the calls that had not started, and starts a replacement. */
  #fail(slot: Slot, why: string): void {
    if (slot.dead) return;
    slot.dead = true;
    const idx = this.#slots.indexOf(slot);
    if (idx >= 0) this.#slots.splice(idx, 1);
    const orphans = [...slot.inflight.values()];
    slot.inflight.clear();
    void this.#kill(slot);
    if (this.#closed || idx < 0) {
      // Closing, or an instance still being prepared (its caller sees the failure): no replacement.
      for (const p of orphans) p.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, why]));
      return;
    }
    this.#opts.logger.warn({ component: this.#opts.name, reason: why }, `component ${this.#opts.name}: instance replaced (${why})`);
    for (const p of orphans) this.#waiting.push(p);
    this.#respawn(1);
  }

  #respawn(attempt: number): void {
    this.#spawn().then(
      () => undefined,
      (err: unknown) => {
        if (this.#closed) return;
        const delay = Math.min(5000, 100 * 2 ** attempt);
        this.#opts.logger.error({ component: this.#opts.name, err: String(err) }, `component ${this.#opts.name}: replacement failed, retrying in ${delay}ms`);
        if (this.#slots.length === 0) {
          for (const p of this.#waiting.splice(0)) p.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, String(err)]));
        }
        setTimeout(() => this.#respawn(attempt + 1), delay).unref();
      },
    );
  }

  async #kill(slot: Slot): Promise<void> {
    slot.dead = true;
    // The bridge closes with the worker, which tells whoever serves it.
    await slot.worker.terminate();
  }

  /** The most instances this pool will run. */
  get capacity(): number { return this.#opts.size; }

  /** How many read calls (`get`, `bulk-get`) to keep going at once to keep every instance busy. */
  get readConcurrency(): number { return this.#opts.size * (this.#planned ? PLANNED_READS_PER_INSTANCE : 1); }
}
