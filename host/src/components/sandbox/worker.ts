/**
 * Entry point of a sandbox worker: instantiates one component instance and serves calls into it.
 *
 * The instance gets a deny-by-default WASI (no preopens, no environment, no network; see `wasi.ts`) and the
 * mortar:host imports, each of which forwards over the bridge to the capabilities. Nothing else is reachable.
 */
import { parentPort, workerData, receiveMessageOnPort, threadId } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { eachMessage } from '../../capabilities/port-batch.js';
import { claimCall, handOver, releaseSpinner, spinnerReply } from './call-word.js';
import { sandboxWasi } from './wasi.js';
import { clockImports } from './clock.js';
import { BridgeClient } from './bridge-client.js';
import { CallWait } from './call-wait.js';
import { guestImports } from '../../capabilities/guest-imports.js';
import { asCallResult, type ReadIo, type ReadOutcome } from './planned-reads.js';
import { PlannedIo } from './planned-io.js';
import { PlannedInvokes, type GuestRun, type InvokePlanExport } from './planned-invokes.js';
import type { RedisConnectOptions } from '../../capabilities/redis.js';
import { CTL_RUNNING, NOT_RUNNING, deadlineMargin, sharedClock, type CallMessage, type ResultBatch, type ResultMessage, type WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const result = spinnerReply(init);
const ctl = new Int32Array(init.calls);
/** Performs the I/O of planned calls (used only if the component plans: `init.plannedRead`, `init.plannedInvoke`). */
const planned = new PlannedIo(init.name, init.importTimeoutMs, init.grants, (message) => {
  init.bridge.postMessage({ seq: 0, op: 'log', args: ['warn', message] });
});
/** Deadline (`sharedClock`) of the call being executed: no host import waits past it. */
let callDeadline = Infinity;
/** How long before `callDeadline` host imports give up (`deadlineMargin`). */
let callMargin = 0;

/** Set while serving a call whose caller spins for the reply: lets it go to the asynchronous path. */
let releaseCaller: (() => void) | undefined;

/** The bridge to the capabilities: each host import blocks until it answers. */
const bridge = new BridgeClient(init.bridge, init.reply, () => Math.min(init.importTimeoutMs, callDeadline - sharedClock() - callMargin));

/** Performs a host import through the bridge and blocks until it answers. Throws the WIT error as `payload`. */
function bridgeCall(op: string, args: unknown[]): unknown {
  // A caller spinning for our reply would wait the whole import out: release it to the asynchronous path.
  if (releaseCaller) {
    releaseCaller();
    releaseCaller = undefined;
  }
  return bridge.perform(op, args);
}

/** The instance's `mortar:host` imports: log and clock served here, every capability over the bridge. */
function hostImports(): Record<string, unknown> {
  const levels = ['trace', 'debug', 'info', 'warn', 'error'];
  return {
    'mortar:host/log': {
      log(level: string | number, message: string) {
        init.bridge.postMessage({ seq: 0, op: 'log', args: [typeof level === 'number' ? levels[level] : level, message] });
      },
    },
    'mortar:host/clock': {
      ...clockImports(() => callDeadline - sharedClock() - callMargin),
    },
    ...guestImports(bridgeCall, { redis: (args) => planned.redisOpened(args[0] as RedisConnectOptions) }),
  };
}

function isTrap(err: unknown): boolean {
  return (
    err instanceof WebAssembly.RuntimeError ||
    (err instanceof Error && /wasm trap|cannot enter component/i.test(err.message)) ||
    !(err instanceof Error && 'payload' in err)
  );
}

async function main(): Promise<void> {
  const { instantiate } = (await import(pathToFileURL(join(init.dir, 'component.js')).href)) as {
    instantiate: (
      get: (p: string) => Promise<WebAssembly.Module>,
      imports: Record<string, unknown>,
    ) => Promise<Record<string, Record<string, (...a: unknown[]) => unknown>>>;
  };
  // What the guest prints (a QuickJS panic, say) becomes log lines of the component.
  const wasi = await sandboxWasi(init.name, (stream, line) => {
    init.bridge.postMessage({ seq: 0, op: 'log', args: [stream === 'stderr' ? 'warn' : 'info', line] });
  });
  const imports = { ...wasi, ...hostImports() };
  const exports = await instantiate(async (p) => {
    const m = init.modules[p];
    if (!m) throw new Error(`artifact has no core module ${p}`);
    return m;
  }, imports);

  const failure = (id: number, err: unknown): ResultMessage =>
    isTrap(err)
      ? { id, ok: false, kind: 'trap', message: err instanceof Error ? err.message : String(err) }
      : { id, ok: false, kind: 'error', error: (err as { payload: unknown }).payload };
  /**
   * Runs `run` synchronously for `calls` (one, or a batch of planned invocations): the host sees the first
   * running, and host imports keep the earliest deadline.
   */
  const runGuest = (calls: readonly CallMessage[], run: () => unknown): GuestRun => {
    let deadline = Infinity;
    for (const c of calls) deadline = Math.min(deadline, c.deadline);
    Atomics.store(ctl, CTL_RUNNING, calls[0]!.seq);
    callDeadline = deadline;
    callMargin = deadlineMargin(deadline - sharedClock());
    try {
      return { ok: true, value: run() };
    } catch (error) {
      return { ok: false, error };
    } finally {
      callDeadline = Infinity;
      Atomics.store(ctl, CTL_RUNNING, NOT_RUNNING);
    }
  };
  /** Runs `run` for call `msg` synchronously: the host sees it running, and its imports keep its deadline. */
  const settle = (msg: CallMessage, run: () => unknown): ResultMessage => {
    const r = runGuest([msg], run);
    return r.ok ? { id: msg.id, ok: true, value: r.value } : failure(msg.id, r.error);
  };
  const callExport = (msg: CallMessage) => () => {
    const target = exports[msg.iface]?.[msg.fn];
    if (typeof target !== 'function') throw new TypeError(`component has no export ${msg.iface}.${msg.fn}`);
    return target(...msg.args);
  };
  const send = (msg: CallMessage, reply: ResultMessage) => {
    if (msg.sync && handOver(result, reply)) return;
    // A trap in an instance that plans invocations: the host must know which calls are doing I/O.
    if (invokes && !reply.ok && reply.kind === 'trap') {
      port.postMessage({ results: [reply], busy: invokes.busy } satisfies ResultBatch);
      invokes.poison();
    } else port.postMessage(reply);
  };

  // Which calls are reads the component plans comes from the host (`WorkerInit.plannedRead`): this worker
  // knows no building block.
  const plannedRead = init.plannedRead;
  const readPlan = (plannedRead ? exports[plannedRead.plan] : undefined) as
    | { plan: (reads: unknown[]) => ReadIo; finish: (count: number, reply: unknown) => Array<ReadOutcome<unknown>> | undefined }
    | undefined;
  /** Whether `msg` is a read the component plans (its single or its batch read). */
  const isPlannedRead = (msg: CallMessage): boolean => msg.iface === plannedRead!.iface && (msg.fn === plannedRead!.single || msg.fn === plannedRead!.batch);
  /**
   * Serves a single or batch read (`get`/`bulk-get`) as a planned read: plan, perform the I/O here without
   * blocking, finish. Returns false when the plan cannot run here (the call is then served as usual).
   */
  const servePlanned = (msg: CallMessage): boolean => {
    const batch = msg.fn === plannedRead!.batch;
    const reads = (batch ? msg.args[0] : [msg.args[0]]) as Array<{ key: string }>;
    const planning = settle(msg, () => readPlan!.plan(reads));
    if (!planning.ok) {
      send(msg, planning);
      return true;
    }
    const io = planning.value as ReadIo;
    if (io.tag !== 'redis-command' || !planned.hasRedis) return false;
    // The reply is a round trip away: a caller spinning for it should stop.
    releaseCaller?.();
    releaseCaller = undefined;
    void planned.redisCommand(io.val, msg.deadline).then((reply) => {
      let outcomes: Array<ReadOutcome<unknown>> | undefined;
      const finishing = settle(msg, () => {
        outcomes = readPlan!.finish(reads.length, reply);
      });
      let result: ResultMessage;
      if (!finishing.ok) result = finishing;
      else if (outcomes === undefined) result = settle(msg, callExport(msg));
      else
        result = asCallResult(
          msg.id,
          batch,
          reads.map((x) => x.key),
          outcomes,
        );
      send(msg, result);
    });
    return true;
  };

  // Which calls are invocations the component plans comes from the host too (`WorkerInit.plannedInvoke`).
  const invokePlan = init.plannedInvoke ? (exports[init.plannedInvoke.plan] as unknown as InvokePlanExport | undefined) : undefined;
  const invokes =
    invokePlan &&
    new PlannedInvokes(init.plannedInvoke!, invokePlan, planned, {
      run: runGuest,
      failure,
      isTrap,
      plain: (msg) => settle(msg, callExport(msg)),
      post: (results, busy) => port.postMessage({ results, busy } satisfies ResultBatch),
    });

  const serve = (msg: CallMessage) => {
    // An instance that reported a trap while planning takes nothing more: the host re-sends its calls.
    if (invokes?.poisoned) return;
    // Start it only if the host has not withdrawn it (see CTL_STARTED); a withdrawn call is served elsewhere.
    if (!claimCall(ctl, msg)) return;
    // Its caller has stopped waiting: a late write or read would only do work nobody sees.
    if (sharedClock() >= msg.deadline) {
      send(msg, { id: msg.id, ok: false, kind: 'expired' });
      return;
    }
    releaseCaller = msg.sync ? () => releaseSpinner(result) : undefined;
    if (readPlan && isPlannedRead(msg) && servePlanned(msg)) {
      releaseCaller = undefined;
      return;
    }
    if (invokes?.covers(msg)) {
      // Its reply comes with its batch's, as a message: a caller spinning for it should stop.
      releaseCaller?.();
      releaseCaller = undefined;
      invokes.take(msg);
      return;
    }
    const reply = settle(msg, callExport(msg));
    releaseCaller = undefined;
    send(msg, reply);
  };
  port.postMessage({ ready: true, exports: Object.keys(exports) });
  if (readPlan || invokes) {
    // Planned calls wait for their I/O in this thread's event loop, so calls arrive there too, several to a
    // message when the host posted them in one turn.
    port.on('message', (m: CallMessage | CallMessage[]) => eachMessage(m, serve));
    return;
  }
  // Between calls the instance blocks on the call word rather than in the event loop: a futex wake is
  // cheaper and steadier than an event-loop wake, and nothing else ever runs on this thread. Calls coming
  // close together are spun for instead (see `call-wait.ts`).
  const wait = new CallWait(ctl, init.spinner, threadId);
  let seen = 0;
  for (;;) {
    seen = wait.next(seen);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) serve(m.message as CallMessage);
  }
}

main().catch((err: unknown) => {
  port.postMessage({ ready: false, message: err instanceof Error ? err.message : String(err) });
});
