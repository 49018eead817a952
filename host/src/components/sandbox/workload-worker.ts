/**
 * Entry point of a workload worker: one instance of a Wasm HTTP workload (`WorkloadInstance`), serving one
 * request at a time, made fresh after each (reset to its post-initialisation image while the worker would
 * otherwise wait for the next call).
 *
 * It speaks the sandbox's protocol (`protocol.ts`) as `worker.ts` does, for one call: `workload.handle` with a
 * `WorkloadRequest`, answered with a `WorkloadResponse`, or `{error}` when the guest set no response. A trap
 * (a guest that panics, exceeds its memory cap or throws out of `handle`) is answered as a trap: the pool
 * replaces the worker. The guest's key-value, variables, config and outbound HTTP calls go to the host over the
 * bridge (`bridge-client.ts`); its stdout and stderr become log lines.
 */
import { parentPort, receiveMessageOnPort, threadId, workerData } from 'node:worker_threads';
import { BridgeClient } from './bridge-client.js';
import { CallWait } from './call-wait.js';
import { claimCall, handOver, releaseSpinner, spinnerReply } from './call-word.js';
import { CTL_RUNNING, NOT_RUNNING, deadlineMargin, sharedClock, type CallMessage, type ResultMessage, type WorkerInit } from './protocol.js';
import { limits as httpLimits, type OutboundRequest, type WorkloadRequest, type WorkloadResponse } from './wasi-http.js';
import { lineSink } from './wasi-io.js';
import { WorkloadInstance } from './workload-instance.js';
import { WORKLOAD_FN, WORKLOAD_IFACE, type WorkloadWorkerData } from './workload-protocol.js';
import { workloadWasi } from './workload-wasi.js';

const init = workerData as WorkerInit & WorkloadWorkerData;
const port = parentPort!;
const result = spinnerReply(init);
const ctl = new Int32Array(init.calls);
httpLimits.responseBodyBytes = init.responseBodyBytes;
httpLimits.outboundBodyBytes = init.outboundBodyBytes;

/** Deadline (`sharedClock`) of the request being served. */
let callDeadline = Infinity;
let callMargin = 0;
const bridge = new BridgeClient(init.bridge, init.reply, () => Math.min(init.importTimeoutMs, callDeadline - sharedClock() - callMargin));
const log = (level: string, line: string) => init.bridge.postMessage({ seq: 0, op: 'log', args: [level, line] });

async function main(): Promise<void> {
  const stdout = lineSink((l) => log('info', l));
  const stderr = lineSink((l) => log('warn', l));
  const imports = await workloadWasi({
    name: init.name,
    environment: init.environment,
    stdout,
    stderr,
    deadline: () => performance.now() + (callDeadline - sharedClock()),
    send: (req: OutboundRequest) => bridge.perform('http.send', [req]) as WorkloadResponse,
    call: (op, args) => bridge.perform(op, args),
    appCallBytes: init.appCallBytes,
  });
  const instance = await WorkloadInstance.create(init.dir, init.modules, imports);

  const serve = async (msg: CallMessage): Promise<void> => {
    if (!claimCall(ctl, msg)) return;
    if (sharedClock() >= msg.deadline) {
      port.postMessage({ id: msg.id, ok: false, kind: 'expired' } satisfies ResultMessage);
      return;
    }
    // A caller spinning for the reply would wait out every host call: release it at the first one.
    bridge.beforeCall = msg.sync ? () => releaseSpinner(result) : undefined;
    Atomics.store(ctl, CTL_RUNNING, msg.seq);
    callDeadline = msg.deadline;
    callMargin = deadlineMargin(msg.deadline - sharedClock());
    let reply: ResultMessage;
    let trapped = false;
    try {
      if (msg.iface !== WORKLOAD_IFACE || msg.fn !== WORKLOAD_FN)
        throw new TypeError(`a workload serves ${WORKLOAD_IFACE}.${WORKLOAD_FN}, not ${msg.iface}.${msg.fn}`);
      const value = await instance.handle(msg.args[0] as WorkloadRequest);
      reply = { id: msg.id, ok: true, value };
    } catch (err) {
      trapped = true;
      reply = { id: msg.id, ok: false, kind: 'trap', message: err instanceof Error ? err.message : String(err) };
    } finally {
      stdout.flush?.();
      stderr.flush?.();
      callDeadline = Infinity;
      bridge.beforeCall = undefined;
      Atomics.store(ctl, CTL_RUNNING, NOT_RUNNING);
    }
    if (!(msg.sync && handOver(result, reply))) port.postMessage(reply);
    // Made fresh now, not when the next request comes: that one does not wait for it.
    if (!trapped) await instance.renew();
  };

  port.postMessage({ ready: true, exports: ['workload'] });
  // Between requests the worker blocks on the call word, as worker.ts does.
  const wait = new CallWait(ctl, init.spinner, threadId);
  let seen = 0;
  for (;;) {
    seen = wait.next(seen);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) await serve(m.message as CallMessage);
  }
}

main().catch((err: unknown) => {
  port.postMessage({ ready: false, message: err instanceof Error ? err.message : String(err) });
});
