import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { MortarError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Artifact } from '../transpile-cache.js';
import type { BridgeHost } from '../../capabilities/bridge.js';
import { PortBatch } from '../../capabilities/port-batch.js';
import { compiledModules } from './compiled-modules.js';
import { plannedInvokeOf, plannedReadOf, type PlannedInvoke, type PlannedRead } from '../../building-blocks.js';
import type { GrantSource } from './planned-io.js';
import { ownBytes } from './own-bytes.js';
import { releaseSpinnerWord, spinnerWord } from './call-wait.js';
import {
  CTL_RUNNING,
  CTL_STARTED,
  CTL_WORDS,
  NOT_RUNNING,
  RESULT_DONE,
  RESULT_IDLE,
  RESULT_WAITING,
  SEALED,
  nextSeq,
  postedAfter,
  sharedClock,
  type CallMessage,
  type ReadyMessage,
  type ResultBatch,
  type ResultMessage,
  type WorkerInit,
} from './protocol.js';
import { WORKER_HEAP } from './worker-heap.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** This process's spinner word (`call-wait.ts`): which instance spins for its next call, if any. */
const SPINNER = spinnerWord();
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
/**
 * An instance that has been executing one call for this long is *stalled*: the calls queued behind it are
 * withdrawn and handed to another instance, started as a spare if every other one is busy (see
 * `PoolOptions.spares`). The least threshold: well above any call a healthy backend serves (sub-millisecond
 * to tens of milliseconds), well below the call deadline: an innocent call waits at most about this long,
 * plus the start of a spare, behind a call that loops or waits on a frozen backend. A pool whose calls may
 * take long (`callTimeoutMs`) waits a tenth of that, so a slow-but-healthy call does not seal its instance
 * (see `stalledAfter`).
 */
export const STALLED_AFTER_MS = 300;

/** The stall threshold of a pool whose calls time out after `callTimeoutMs`: max(`STALLED_AFTER_MS`, a tenth of it), so a slow but healthy call does not spawn a spare at once, and a stuck one holds the calls behind it well under a second at the 5 s default. */
export function stalledAfter(callTimeoutMs: number): number {
  return Math.max(STALLED_AFTER_MS, callTimeoutMs / 10);
}
/** How long a call may keep its instance busy past its deadline (its caller has had its error) before the
 *  instance is terminated and replaced. Host imports give up at the deadline, so only a guest that computes
 *  (an endless loop) gets here. */
const KILL_GRACE_MS = 500;
/** How often deadlines and stalls are checked. */
const TICK_MS = 100;

export interface PoolOptions {
  readonly name: string;
  readonly artifact: Artifact;
  /** Most instances (workers) the pool runs. It starts with one and grows while every instance is busy. */
  readonly size: number;
  /**
   * The deadline of a call made without one of its own (`call`'s `timeoutMs`): `--component-call-timeout`,
   * default `DEFAULTS.componentCallTimeoutMs`.
   */
  readonly callTimeoutMs: number;
  /**
   * Whether a stalled instance may be relieved by a spare (default true): the stalled one stops counting
   * against `size`, so up to `2 * size` instances may run for a moment. False for a component declaring
   * `max-instances: 1`, which keeps its data in its one instance (calls then wait behind a stalled call, up
   * to their deadline), and for pools of long calls (a pub/sub `fetch` waits on purpose).
   */
  readonly spares?: boolean;
  readonly memoryLimitBytes: number;
  /** Where each instance's host imports are served. */
  readonly host: BridgeHost;
  /** What the component may reach (as `host` checks it): the I/O of planned invocations is checked against it. */
  readonly grants?: GrantSource;
  readonly logger: Logger;
  /**
   * Another kind of instance than a component's: the worker entry to run (a workload's:
   * `workload-worker.js`), what it gets beyond `WorkerInit`, and whether the core modules are compiled with
   * their memories and mutable globals exported (`wasm-export-state.ts`), for instances reset between calls.
   */
  readonly worker?: { readonly url: URL; readonly data: Readonly<Record<string, unknown>>; readonly stateExports: boolean };
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
  readonly id: number;
  readonly iface: string;
  readonly fn: string;
  readonly args: unknown[];
  /** When the caller stops waiting (`sharedClock`); kept when the call is re-sent to another instance. */
  readonly deadline: number;
  /** The budget the deadline was set from, for the error message. */
  readonly timeoutMs: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  /** Its `seq` on the instance it was last posted to. */
  seq: number;
  /** The caller has had its answer (the deadline passed); the instance may still be running the call. */
  settled?: boolean;
  /** To be planned with its group only (`CallMessage.group`): a batch it was in trapped while being planned. */
  group?: number;
}

/** The shared memory between the main thread and one worker (see `WorkerInit`). */
interface SlotBuffers {
  readonly reply: SharedArrayBuffer;
  readonly calls: SharedArrayBuffer;
  readonly result: SharedArrayBuffer;
}

/** One worker thread running one instance. */
class Slot {
  /** Calls posted and not answered by the instance, in the order posted. */
  readonly inflight = new Map<number, Pending>();
  dead = false;
  /** Withdrawn from service while a call stalls it (`CTL_STARTED` is `SEALED`): takes no new calls. */
  sealed = false;
  /** `seq` of the last call posted. */
  posted = 0;
  /** The `CTL_RUNNING` value last seen, and since when (`sharedClock`). */
  running = NOT_RUNNING;
  runningSince = 0;
  /** The control words (`CTL_*`). */
  readonly ctl: Int32Array;
  /** The state of a reply awaited by a spinning caller (a `RESULT_*`). */
  readonly result: Int32Array;

  /**
   * `blocksBetweenCalls`: the instance waits on the call word (else in its event loop, which the message
   * wakes). `resultPort`: where a reply awaited by a spinning caller comes (read with `receiveMessageOnPort`;
   * never started, so it wakes nothing here).
   */
  constructor(
    readonly worker: Worker,
    buffers: SlotBuffers,
    readonly blocksBetweenCalls: boolean,
    readonly resultPort: MessagePort,
  ) {
    this.ctl = new Int32Array(buffers.calls);
    this.result = new Int32Array(buffers.result);
    this.#outbox = new PortBatch(worker);
  }

  /** Calls posted in this turn of the event loop, sent together at its end (an instance serving from its event loop). */
  readonly #outbox: PortBatch<CallMessage>;

  /**
   * Posts a call and wakes the instance. To an instance that serves from its event loop (one that plans),
   * the calls posted in one turn of this thread's event loop go in one message (`PortBatch`): under load
   * that is one hand-off for a batch of calls instead of one each. A call whose caller spins for it, and
   * every call to an instance that blocks between calls, goes at once.
   */
  post(p: Pending, sync?: boolean): void {
    this.posted = nextSeq(this.posted);
    p.seq = this.posted;
    this.inflight.set(p.id, p);
    const msg: CallMessage = { id: p.id, seq: p.seq, deadline: p.deadline, sync, iface: p.iface, fn: p.fn, args: ownBytes(p.args), group: p.group };
    // Alone once: if it must be sent again (its instance failed), it goes like any call.
    p.group = undefined;
    if (!this.blocksBetweenCalls && !sync) {
      this.#outbox.post(msg);
      return;
    }
    this.worker.postMessage(msg);
    if (!this.blocksBetweenCalls) return;
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
  }
}

/**
 * A pool of sandboxed instances of one component.
 *
 * Calls go to the instance with the fewest calls in flight. Every call has a deadline (see `call`): its
 * caller gets `ERR_COMPONENT_TIMEOUT` then, whatever the instance is doing. An instance stalled on one call
 * (`stalledAfterMs`) hands the calls queued behind it to another instance. An instance that traps,
 * exceeds its memory limit, or is still running a call `KILL_GRACE_MS` past its deadline is terminated and
 * replaced; calls queued behind the failed one (not yet started) are re-sent to a healthy instance, so only
 * the offending call fails.
 */
export class InstancePool {
  readonly #opts: PoolOptions;
  readonly #slots: Slot[] = [];
  readonly #waiting: Pending[] = [];
  /** The last group number given to re-planned calls (`CallMessage.group`). */
  #groups = 0;
  #nextId = 1;
  #closed = false;
  #watchdog?: NodeJS.Timeout;
  /** Instances being started (`#grow`, `#respawn`). */
  #growing = 0;
  /** A `#respawn` loop is waiting to retry. */
  #retrying = false;
  /** >= 0: calls into an idle pool are awaited by spinning; pushed down by calls that needed host I/O. */
  #spinScore = 0;

  /**
   * The reads and the calls the component plans (it exports its block's `read-plan` or `invoke-plan`; see the
   * building-block table): its instances serve calls from their event loop (see `worker.ts`).
   */
  readonly #plannedRead?: PlannedRead;
  readonly #plannedInvoke?: PlannedInvoke;
  readonly #planned: boolean;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.#plannedRead = plannedReadOf(opts.artifact.exports);
    this.#plannedInvoke = plannedInvokeOf(opts.artifact.exports);
    this.#planned = this.#plannedRead !== undefined || this.#plannedInvoke !== undefined;
  }

  get name(): string {
    return this.#opts.name;
  }

  /**
   * The deadline of a component call, in one place: the Resiliency outbound timeout when one applies to the
   * call (`policyTimeoutMs`), else the pool's default (`--component-call-timeout`, 5 s unless set).
   */
  callTimeout(policyTimeoutMs?: number): number {
    return policyTimeoutMs ?? this.#opts.callTimeoutMs;
  }

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
    this.#watchdog = setInterval(() => this.#tick(), TICK_MS);
    this.#watchdog.unref();
  }

  /**
   * Calls export `iface.fn`. Rejects with `ComponentCallError` (the component's WIT error) or a `MortarError`:
   * `ERR_COMPONENT_TIMEOUT` once `timeoutMs` (default `callTimeout()`) have passed without an answer, whether
   * the call was still queued or running. The instance does not start a call past its deadline, and its host
   * imports give up by then, so it is free again at the deadline (or replaced, if it computes on).
   */
  call(iface: string, fn: string, args: unknown[], timeoutMs: number = this.#opts.callTimeoutMs): Promise<unknown> {
    if (this.#closed) return Promise.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, 'it has been unloaded']));
    return new Promise((resolve, reject) => {
      this.#dispatch({ id: this.#nextId++, iface, fn, args, deadline: sharedClock() + timeoutMs, timeoutMs, resolve, reject, seq: 0 });
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

  /** Instances in service (not stalled, not failed). */
  #healthy(): number {
    let n = 0;
    for (const s of this.#slots) if (!s.dead && !s.sealed) n++;
    return n;
  }

  #dispatch(p: Pending): void {
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (s.dead || s.sealed) continue;
      if (!best || s.inflight.size < best.inflight.size) best = s;
    }
    if (!best) {
      this.#waiting.push(p);
      this.#grow();
      return;
    }
    if (best.inflight.size > 0) this.#grow();
    // Never for planned invocations: their reply is always an I/O round trip away.
    const idle = this.#spinScore >= 0 && this.#plannedInvoke === undefined && this.#slots.every((x) => x.inflight.size === 0);
    if (!idle) {
      // A component that gave up its spins gets another chance now and then.
      if (this.#spinScore < 0) this.#spinScore++;
      best.post(p);
      return;
    }
    // Nothing in flight anywhere: wait for this reply synchronously, briefly.
    Atomics.store(best.result, 0, RESULT_WAITING);
    best.post(p, true);
    const deadline = performance.now() + SYNC_SPIN_MS;
    for (;;) {
      const state = Atomics.load(best.result, 0);
      if (state === RESULT_DONE) break;
      if (state === RESULT_IDLE) {
        // Released by the instance: it needs our I/O (a host import) or its reply could not be cloned. The
        // reply comes as a message; spinning for a component that does I/O only delays that I/O, so stop
        // spinning for it until it pays off again.
        this.#spinScore = Math.max(-64, this.#spinScore - 32);
        return;
      }
      if (performance.now() < deadline) continue;
      // Give up unless the instance has started writing the reply, in which case it is moments away.
      if (Atomics.compareExchange(best.result, 0, RESULT_WAITING, RESULT_IDLE) === RESULT_WAITING) return;
    }
    this.#spinScore = Math.min(8, this.#spinScore + 1);
    const reply = receiveMessageOnPort(best.resultPort)?.message as ResultMessage;
    Atomics.store(best.result, 0, RESULT_IDLE);
    this.#onResult(best, reply);
  }

  /**
   * Starts one more instance when every instance is busy and fewer than `size` are in service (a stalled
   * one does not count, so this starts its spare; never more than `2 * size` in all).
   */
  #grow(): void {
    if (this.#closed || this.#growing > 0 || this.#healthy() >= this.#opts.size || this.#slots.length >= 2 * this.#opts.size) return;
    this.#growing++;
    this.#spawn().then(
      () => {
        this.#growing--;
      },
      (err: unknown) => {
        this.#growing--;
        this.#opts.logger.warn({ component: this.#opts.name, err: String(err) }, `component ${this.#opts.name}: could not start another instance`);
        // Nothing left in service (every instance stalled or failed): keep trying, with back-off, unless a
        // retry loop already is.
        if (!this.#closed && this.#healthy() === 0 && !this.#retrying) this.#respawn(1);
      },
    );
  }

  async #spawn(): Promise<Slot> {
    const started = performance.now();
    const { port1, port2 } = new MessageChannel();
    const spinner = new MessageChannel();
    spinner.port1.unref();
    const buffers: SlotBuffers = { reply: new SharedArrayBuffer(4), calls: new SharedArrayBuffer(4 * CTL_WORDS), result: new SharedArrayBuffer(4) };
    Atomics.store(new Int32Array(buffers.calls), CTL_RUNNING, NOT_RUNNING);
    const init: WorkerInit = {
      ...this.#opts.worker?.data,
      name: this.#opts.name,
      dir: this.#opts.artifact.dir,
      modules: await compiledModules(this.#opts.artifact.dir, this.#opts.memoryLimitBytes, this.#opts.worker?.stateExports ?? false),
      importTimeoutMs: Math.max(1000, this.#opts.callTimeoutMs - 500),
      reply: buffers.reply,
      bridge: port2,
      calls: buffers.calls,
      result: buffers.result,
      resultPort: spinner.port2,
      spinner: SPINNER,
      plannedRead: this.#plannedRead,
      plannedInvoke: this.#plannedInvoke,
      grants: this.#opts.grants,
    };
    const worker = new Worker(this.#opts.worker?.url ?? WORKER_URL, {
      // The thread's name as `top -H` and /proc show it (the OS keeps 15 characters).
      name: `m:${this.#opts.name}`,
      workerData: init,
      transferList: [port2, spinner.port2],
      resourceLimits: WORKER_HEAP,
      stdout: false,
      stderr: false,
    });
    // A worker terminated while it spun for a call must not keep others from spinning.
    const threadId = worker.threadId;
    if (SPINNER) worker.once('exit', () => releaseSpinnerWord(SPINNER, threadId));
    const slot = new Slot(worker, buffers, !this.#planned, spinner.port1);
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

    worker.on('message', (m: ResultMessage | ResultBatch) => ('results' in m ? this.#onResults(slot, m.results, m.busy) : this.#onResult(slot, m)));
    worker.on('error', (err) => this.#fail(slot, `worker error: ${err.message}`));
    worker.on('exit', (code) => {
      if (!slot.dead) this.#fail(slot, `worker exited with code ${code}`);
    });

    if (this.#opts.prepare) {
      // prepare's calls go to this instance only, and get the same no-progress deadline as any call.
      const timeoutMs = this.#opts.callTimeoutMs;
      const direct = (iface: string, fn: string, args: unknown[]) =>
        new Promise((resolve, reject) => {
          const id = this.#nextId++;
          const timer = setTimeout(() => {
            slot.inflight.delete(id);
            reject(new MortarError('ERR_COMPONENT_TIMEOUT', [this.#opts.name, timeoutMs]));
          }, timeoutMs);
          slot.post({
            id,
            iface,
            fn,
            args,
            deadline: sharedClock() + timeoutMs,
            timeoutMs,
            seq: 0,
            resolve: (v) => {
              clearTimeout(timer);
              resolve(v);
            },
            reject: (e) => {
              clearTimeout(timer);
              reject(e);
            },
          });
        });
      try {
        await this.#opts.prepare(direct);
      } catch (err) {
        slot.dead = true;
        await worker.terminate();
        throw err;
      }
    }
    if (this.#closed) {
      // The pool closed while this instance started: it must not live on outside `#slots`.
      slot.dead = true;
      await worker.terminate();
      throw new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, 'it has been unloaded']);
    }
    this.#slots.push(slot);
    this.#opts.logger.debug(
      { component: this.#opts.name, ms: Math.round(performance.now() - started), instances: this.#slots.length },
      `component ${this.#opts.name}: instance started`,
    );
    this.#redispatch();
    return slot;
  }

  /** Dispatches the calls waiting for an instance. */
  #redispatch(): void {
    for (const p of this.#waiting.splice(0)) this.#dispatch(p);
  }

  #onResult(slot: Slot, m: ResultMessage): void {
    const failed = this.#settle(slot, m);
    if (failed) this.#fail(slot, failed, this.#trapReportsAll);
  }

  /**
   * Whether an instance that reports a trap has done nothing of the other calls it took (so they are all
   * re-sent): true unless it plans invocations, whose other batches may have done their I/O already (they
   * fail rather than run twice; only those it had not started are re-sent).
   */
  get #trapReportsAll(): boolean {
    return this.#plannedInvoke === undefined;
  }

  /**
   * The replies of one batch of planned invocations: every caller has its answer before a trap replaces the
   * instance. `busy`: the calls of other batches whose I/O had started (they fail rather than run twice);
   * every other call the instance had is re-sent.
   */
  #onResults(slot: Slot, results: readonly ResultMessage[], busy?: readonly number[]): void {
    let failed: string | undefined;
    const replanned: Pending[] = [];
    for (const m of results) failed = this.#settle(slot, m, replanned) ?? failed;
    if (replanned.length > 0) this.#replan(replanned);
    if (failed) this.#fail(slot, failed, true, busy);
  }

  /**
   * Re-sends the calls of a batch whose plan trapped, in two groups (its halves), each planned on its own:
   * the half without the bad request is served, the other halves again. The request that traps is alone
   * after log2(n) rounds, where planning each call alone would take n, one after another's I/O (calls that
   * wait on a slow backend would otherwise outlive their deadline).
   */
  #replan(calls: readonly Pending[]): void {
    const half = Math.ceil(calls.length / 2);
    const first = ++this.#groups;
    const second = ++this.#groups;
    calls.forEach((p, i) => {
      p.group = i < half ? first : second;
      this.#waiting.push(p);
    });
  }

  /** Answers the caller of `m`; returns why the instance must be replaced, if it must. */
  #settle(slot: Slot, m: ResultMessage, replanned?: Pending[]): string | undefined {
    const trapped = !m.ok && m.kind === 'trap' ? `trapped: ${m.message}` : undefined;
    const replan = !m.ok && m.kind === 'replan' ? 'trapped while planning a batch of calls; each half of it is planned again on its own' : undefined;
    const p = slot.inflight.get(m.id);
    // A call no longer tracked (long answered) can still report the trap that makes the instance unusable.
    if (!p) return trapped ?? replan;
    slot.inflight.delete(m.id);
    // A sealed instance whose last call this was goes back to service, unless the reply fails it.
    if (!trapped && !replan && slot.sealed && slot.inflight.size === 0) this.#unstall(slot);
    if (replan) {
      // Nothing of it was done: it is planned again, in half of its batch, by another instance (this one trapped).
      if (!p.settled) {
        if (replanned) replanned.push(p);
        else {
          p.group = ++this.#groups;
          this.#waiting.push(p);
        }
      }
      return replan;
    }
    // Its caller already had ERR_COMPONENT_TIMEOUT. A trap still means the instance is unusable.
    if (p.settled) return trapped;
    if (m.ok) {
      p.resolve(m.value);
    } else if (m.kind === 'error') {
      p.reject(new ComponentCallError(m.error as { tag: string; val?: unknown }));
    } else if (m.kind === 'expired') {
      p.reject(this.#timeout(p));
    } else if (m.kind === 'trap') {
      p.reject(new MortarError('ERR_COMPONENT_TRAPPED', [this.#opts.name, m.message]));
    }
    return trapped;
  }

  #timeout(p: Pending): MortarError {
    // Up: a batcher hands on what is left of the caller's budget (1499.6 ms of a 1500 ms timeout, say).
    return new MortarError('ERR_COMPONENT_TIMEOUT', [this.#opts.name, Math.ceil(p.timeoutMs)]);
  }

  /** Enforces deadlines and relieves stalled instances (every `TICK_MS`). */
  #tick(): void {
    const now = sharedClock();
    if (this.#waiting.some((p) => now >= p.deadline)) {
      const waiting = this.#waiting.splice(0);
      for (const p of waiting) {
        if (now >= p.deadline) p.reject(this.#timeout(p));
        else this.#waiting.push(p);
      }
    }
    for (const slot of [...this.#slots]) {
      if (slot.dead) continue;
      if (slot.inflight.size === 0) {
        if (slot.sealed) this.#unstall(slot);
        continue;
      }
      const running = Atomics.load(slot.ctl, CTL_RUNNING);
      if (running !== slot.running) {
        slot.running = running;
        slot.runningSince = now;
      }
      let current: Pending | undefined;
      for (const [id, p] of slot.inflight) {
        if (p.seq === running) current = p;
        if (now < p.deadline) continue;
        if (!p.settled) {
          p.settled = true;
          p.reject(this.#timeout(p));
        } else if (p !== current && now >= p.deadline + KILL_GRACE_MS) {
          // Not running and long answered: the instance will skip it (expired) or has lost it.
          slot.inflight.delete(id);
        }
      }
      if (current && now >= current.deadline + KILL_GRACE_MS) {
        this.#fail(slot, `a call ran ${Math.round(now - current.deadline + current.timeoutMs)}ms, past its ${Math.ceil(current.timeoutMs)}ms deadline`);
        continue;
      }
      if (slot.sealed && slot.inflight.size === 0) this.#unstall(slot);
      else if (current && !slot.sealed && now - slot.runningSince >= this.stalledAfterMs && this.#queuedBehind(slot, running)) this.#stall(slot);
    }
  }

  /** Whether calls wait behind the running call on `slot` (posted to it and not started). */
  #queuedBehind(slot: Slot, running: number): boolean {
    if (this.#waiting.length > 0) return true;
    for (const p of slot.inflight.values()) if (!p.settled && postedAfter(p.seq, running)) return true;
    return false;
  }

  /** Takes a stalled instance out of service: withdraws the calls it has not started and sends them elsewhere. */
  #stall(slot: Slot): void {
    let started: number;
    for (;;) {
      started = Atomics.load(slot.ctl, CTL_STARTED);
      if (Atomics.compareExchange(slot.ctl, CTL_STARTED, started, SEALED) === started) break;
    }
    slot.sealed = true;
    const moved: Pending[] = [];
    for (const [id, p] of slot.inflight) {
      if (!postedAfter(p.seq, started)) continue;
      slot.inflight.delete(id);
      if (!p.settled) moved.push(p);
    }
    this.#opts.logger.debug(
      { component: this.#opts.name, withdrawn: moved.length },
      `component ${this.#opts.name}: an instance is stalled on one call; ${moved.length} calls queued behind it go to another instance`,
    );
    this.#waiting.unshift(...moved);
    this.#redispatch();
  }

  /** A stalled instance finished what it had started: back in service if the pool needs it, else retired. */
  #unstall(slot: Slot): void {
    if (this.#closed || slot.dead) return;
    if (this.#healthy() + this.#growing < this.#opts.size) {
      // Calls it skipped were withdrawn; the next one posted follows the last posted.
      Atomics.store(slot.ctl, CTL_STARTED, slot.posted);
      slot.sealed = false;
      this.#redispatch();
      return;
    }
    const idx = this.#slots.indexOf(slot);
    if (idx >= 0) this.#slots.splice(idx, 1);
    void this.#kill(slot);
  }

  /**
   * Kills a failed instance, re-sends the calls that had not started, and starts a replacement.
   * `reported`: the instance itself reported which call trapped (that caller has its error), so every other
   * call is re-sent: those it took after the trap could not enter the component and did nothing; all but
   * `busy`, the planned invocations whose I/O had started (they fail: run again, their I/O would repeat).
   */
  #fail(slot: Slot, why: string, reported = false, busy?: readonly number[]): void {
    if (slot.dead) {
      // Replanned calls may be waiting for an instance.
      this.#redispatch();
      return;
    }
    slot.dead = true;
    const idx = this.#slots.indexOf(slot);
    if (idx >= 0) this.#slots.splice(idx, 1);
    // Calls whose callers were answered (deadline passed) are not re-sent. A call the instance had started
    // may be what crashed it (a worker `error`/`exit`): re-sent, it would kill one instance after another,
    // so its caller gets the failure. Calls it had not started are re-sent, with their own deadline.
    // Sealed at once: the instance starts nothing more, whatever it still has (the calls it has not started
    // are re-sent below and must not run there too).
    const started = Atomics.exchange(slot.ctl, CTL_STARTED, SEALED);
    const doing = new Set(busy);
    const orphans: Pending[] = [];
    for (const p of slot.inflight.values()) {
      if (p.settled) continue;
      if (doing.has(p.id) || (!reported && (started === SEALED || !postedAfter(p.seq, started))))
        p.reject(new MortarError('ERR_COMPONENT_TRAPPED', [this.#opts.name, why]));
      else orphans.push(p);
    }
    slot.inflight.clear();
    void this.#kill(slot);
    if (this.#closed || idx < 0) {
      // Closing, or an instance still being prepared (its caller sees the failure): no replacement.
      for (const p of orphans) p.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, why]));
      return;
    }
    this.#opts.logger.warn({ component: this.#opts.name, reason: why }, `component ${this.#opts.name}: instance replaced (${why})`);
    for (const p of orphans) this.#waiting.push(p);
    // A spare that relieved it may already stand in for it.
    if (this.#healthy() + this.#growing < this.#opts.size && !this.#retrying) this.#respawn(1);
    // Healthy instances take the orphans now rather than after the replacement has started.
    this.#redispatch();
  }

  /**
   * Starts a replacement instance, retrying with back-off while it fails and the pool is short of `size`.
   * The attempt in progress counts in `#growing` (so `#grow` starts nothing beside it); while a retry is
   * pending, `#retrying` keeps `#grow` and `#fail` from starting a second loop.
   */
  #respawn(attempt: number): void {
    this.#growing++;
    this.#spawn().then(
      () => {
        this.#growing--;
      },
      (err: unknown) => {
        this.#growing--;
        if (this.#closed) return;
        if (this.#slots.length === 0) {
          for (const p of this.#waiting.splice(0)) p.reject(new MortarError('ERR_COMPONENT_UNAVAILABLE', [this.#opts.name, String(err)]));
        }
        // Another start (or an instance back from a stall) already fills the pool.
        if (this.#healthy() + this.#growing >= this.#opts.size) return;
        const delay = Math.min(5000, 100 * 2 ** attempt);
        this.#opts.logger.error({ component: this.#opts.name, err: String(err) }, `component ${this.#opts.name}: replacement failed, retrying in ${delay}ms`);
        this.#retrying = true;
        setTimeout(() => {
          this.#retrying = false;
          if (!this.#closed && this.#healthy() + this.#growing < this.#opts.size) this.#respawn(attempt + 1);
        }, delay).unref();
      },
    );
  }

  async #kill(slot: Slot): Promise<void> {
    slot.dead = true;
    // The bridge closes with the worker, which tells whoever serves it.
    await slot.worker.terminate();
    slot.resultPort.close();
  }

  /**
   * How long a call runs before its instance counts as stalled and hands the calls queued behind it to
   * another (`stalledAfter(callTimeoutMs)`); `Infinity` for a pool without spares, which never relieves a stalled
   * instance (calls wait behind it up to their deadline).
   */
  get stalledAfterMs(): number {
    return this.#opts.spares === false ? Infinity : stalledAfter(this.#opts.callTimeoutMs);
  }

  /** The component exports `read-plan`: its reads do not block an instance (they never stall it). */
  get plannedReads(): boolean {
    return this.#planned;
  }

  /** The most instances this pool will run. */
  get capacity(): number {
    return this.#opts.size;
  }

  /** How many read calls (`get`, `bulk-get`) to keep going at once to keep every instance busy. */
  get readConcurrency(): number {
    return this.#opts.size * (this.#planned ? PLANNED_READS_PER_INSTANCE : 1);
  }
}
