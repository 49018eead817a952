/**
 * Planned invocations (`mortar:component/invoke-plan`), served inside a sandbox worker.
 *
 * The calls that arrive while the worker is busy form a batch: the component plans the whole batch in one
 * call (`plan`), the worker performs every invocation's I/O at once without blocking the instance
 * (`planned-io.ts`), and the component decodes every reply in one call (`finish`). Batches overlap: the next
 * one is planned while the I/O of the last is on its way. At low load a batch is one call, and nothing waits
 * to fill it.
 *
 * Isolation: a batch whose `plan` traps has done nothing, so its calls are sent back (`replan`) to be
 * planned again in a new instance, in two groups (its halves, `CallMessage.group`), each while no other
 * call's I/O is in flight there; a group that traps is halved again, so only the request that traps fails. A trap in `finish` fails every call of its batch. Either trap also fails the calls of other
 * batches whose I/O had started (`ResultBatch.busy`): the instance can no longer decode their replies, and
 * repeating their I/O (an `INCR`, a `POST`) is not the host's to decide. Every other call is re-sent.
 */
import type { PlannedInvoke } from '../../building-blocks.js';
import type { HttpRequest, HttpResponse } from '../../capabilities/http.js';
import type { RedisArgument } from '../../capabilities/redis.js';
import type { WitError } from '../../capabilities/wit-error.js';
import type { PlannedIo, WitResult } from './planned-io.js';
import { sharedClock, type CallMessage, type ResultMessage } from './protocol.js';

/** `mortar:component/invoke-plan.invoke-io`. */
export type InvokeIo = { tag: 'redis-pipeline'; val: RedisArgument[][] } | { tag: 'http-send'; val: HttpRequest };

/** `mortar:component/invoke-plan.planned-io`. */
interface Planned {
  io: InvokeIo;
  context: string;
  noneIfOk: boolean;
}

/** Whether `reply` to `io` is a success in `planned-io.none-if-ok`'s sense. */
function succeeded(io: InvokeIo, reply: WitResult<unknown>): boolean {
  if (reply.tag !== 'ok') return false;
  if (io.tag === 'redis-pipeline') return (reply.val as Array<{ tag: string }>).every((r) => r.tag === 'ok');
  const status = (reply.val as HttpResponse).status;
  return status >= 200 && status < 300;
}

/** The component's `invoke-plan` export as jco lifts it. */
export interface InvokePlanExport {
  plan(requests: unknown[]): Array<WitResult<Planned | undefined>>;
  finish(outcomes: Array<{ context: string; reply: { tag: InvokeIo['tag']; val: WitResult<unknown> } }>): Array<WitResult<unknown>>;
}

/** Most calls planned together: a larger batch only delays its first reply. */
const MAX_BATCH = 64;

/** What a synchronous run of the guest gave: its value, or what it threw. */
export type GuestRun = { ok: true; value: unknown } | { ok: false; error: unknown };

/** What the worker lends the planned invocations. */
export interface PlannedInvokeHost {
  /** Runs `run` in the instance on behalf of `calls` (they see it running; imports keep the earliest deadline). */
  run(calls: readonly CallMessage[], run: () => unknown): GuestRun;
  /** The failure `error` (thrown by the guest) is for call `id`: a trap, or the WIT error it returned. */
  failure(id: number, error: unknown): ResultMessage;
  /** Whether `error` is a trap (the instance is unusable). */
  isTrap(error: unknown): boolean;
  /** Serves `msg` as a plain call (`invoke`), blocking the instance. */
  plain(msg: CallMessage): ResultMessage;
  /** Sends the replies of one batch, together; with a trap, `busy` (see `ResultBatch.busy`). */
  post(results: ResultMessage[], busy?: readonly number[]): void;
}

export class PlannedInvokes {
  readonly #queue: CallMessage[] = [];
  /** Calls to be planned with their group only (a batch they were in trapped while being planned), by group. */
  readonly #groups = new Map<number, CallMessage[]>();
  #scheduled = false;
  /** Calls whose I/O has started and whose replies are not yet sent. */
  readonly #inIo = new Set<number>();
  /**
   * A trap was reported: the host replaces this instance and re-sends every call it has not reported as
   * doing I/O, so from now on nothing more is planned, performed or finished here (a JS error jco does not
   * treat as a trap would otherwise leave the instance able to run them twice).
   */
  #poisoned = false;

  /** Whether this instance has reported a trap (see `#poisoned`); it then takes no call. */
  get poisoned(): boolean {
    return this.#poisoned;
  }

  /** A call outside the plan trapped and was reported (with `busy`): the same as a trap of a batch. */
  poison(): void {
    this.#poisoned = true;
  }

  constructor(
    readonly which: PlannedInvoke,
    readonly exported: InvokePlanExport,
    readonly io: PlannedIo,
    readonly host: PlannedInvokeHost,
  ) {}

  /** Calls whose I/O has started and whose replies are not yet sent (see `ResultBatch.busy`). */
  get busy(): number[] {
    return [...this.#inIo];
  }

  /** Sends a batch's replies, with the calls still doing I/O if one of them trapped. */
  #post(results: ResultMessage[]): void {
    const trapped = results.some((r) => !r.ok && (r.kind === 'trap' || r.kind === 'replan'));
    this.host.post(results, trapped ? this.busy : undefined);
    if (trapped) this.#poisoned = true;
  }

  /** Whether `msg` is a call the component plans. */
  covers(msg: CallMessage): boolean {
    return msg.iface === this.which.iface && msg.fn === this.which.fn;
  }

  /** Takes a started call; it is planned with the others that arrive in this turn of the event loop. */
  take(msg: CallMessage): void {
    if (msg.group === undefined) this.#queue.push(msg);
    else {
      const group = this.#groups.get(msg.group);
      if (group) group.push(msg);
      else this.#groups.set(msg.group, [msg]);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#drain();
    });
  }

  /**
   * Plans what is queued. The groups of re-planned calls go first, one at a time and only while no other
   * call's I/O is in flight, so a trap in a group's plan takes no call of another group with it (the others
   * wait meanwhile; such calls are rare: each follows a trap).
   */
  #drain(): void {
    if (this.#poisoned) return;
    for (const [id, group] of this.#groups) {
      if (this.#inIo.size > 0) return; // resumed when that I/O ends
      const batch = group.splice(0, MAX_BATCH);
      if (group.length === 0) this.#groups.delete(id);
      void this.#serve(batch); // plans synchronously, before its first await
      if (this.#poisoned) return;
    }
    while (this.#queue.length > 0) void this.#serve(this.#queue.splice(0, MAX_BATCH));
  }

  async #serve(taken: CallMessage[]): Promise<void> {
    if (this.#poisoned) return;
    // A call whose caller has stopped waiting is not planned.
    const now = sharedClock();
    const late = taken.filter((m) => m.deadline <= now);
    const batch = late.length === 0 ? taken : taken.filter((m) => m.deadline > now);
    if (late.length > 0) this.host.post(late.map((m) => ({ id: m.id, ok: false, kind: 'expired' })));
    if (batch.length === 0) return;
    const planning = this.host.run(batch, () => this.exported.plan(batch.map((m) => m.args[0])));
    if (!planning.ok) {
      if (batch.length > 1 && this.host.isTrap(planning.error)) this.#post(batch.map((m) => ({ id: m.id, ok: false, kind: 'replan' })));
      else this.#post(batch.map((m) => this.host.failure(m.id, planning.error)));
      return;
    }
    const plans = planning.value as Array<WitResult<Planned | undefined>>;
    if (!Array.isArray(plans) || plans.length !== batch.length) {
      const val = `invoke-plan.plan returned ${Array.isArray(plans) ? plans.length : 'no list of'} plans for ${batch.length} requests`;
      this.#post(batch.map((m) => ({ id: m.id, ok: false, kind: 'error', error: { tag: 'other', val } })));
      return;
    }
    const results: Array<ResultMessage | undefined> = new Array(batch.length);
    let io: Array<{ at: number; planned: Planned }> = [];
    /** The replies `finish` decodes, one per entry of `io` once the I/O is done. */
    const replies: Array<WitResult<unknown>> = [];
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i]!;
      const p = plans[i]!;
      if (p.tag === 'err') results[i] = { id: msg.id, ok: false, kind: 'error', error: p.val };
      else if (p.val === undefined || (p.val.io.tag === 'redis-pipeline' && !this.io.hasRedis)) {
        // Unplanned (or its connection is not open here): served as a plain call.
        const r = this.host.plain(msg);
        results[i] = r;
        if (!r.ok && r.kind === 'trap') {
          // The culprit is known and nothing else of the batch has been done: the calls not answered yet are
          // left unanswered, and the host re-sends them as usual.
          this.#post(results.filter((x): x is ResultMessage => x !== undefined));
          return;
        }
      } else io.push({ at: i, planned: p.val });
    }
    if (io.length > 0) {
      const calls = io.map(({ at }) => batch[at]!);
      for (const c of calls) this.#inIo.add(c.id);
      const all = await Promise.all(io.map(({ planned }, k) => this.#perform(planned.io, calls[k]!.deadline)));
      for (const c of calls) this.#inIo.delete(c.id);
      // Trapped meanwhile: the host has failed these calls (their I/O is done) and replaces the instance.
      if (this.#poisoned) return;
      if (this.#groups.size > 0 && this.#inIo.size === 0) this.#schedule();
      // A write that succeeded is answered here; `finish` sees the rest.
      io = io.filter(({ at, planned }, k) => {
        if (planned.noneIfOk && succeeded(planned.io, all[k]!)) {
          results[at] = { id: batch[at]!.id, ok: true, value: undefined };
          return false;
        }
        replies.push(all[k]!);
        return true;
      });
    }
    if (io.length > 0) {
      const calls = io.map(({ at }) => batch[at]!);
      const finishing = this.host.run(calls, () =>
        this.exported.finish(io.map(({ planned }, k) => ({ context: planned.context, reply: { tag: planned.io.tag, val: replies[k]! } }))),
      );
      const outcomes = finishing.ok ? (finishing.value as Array<WitResult<unknown>>) : undefined;
      const wrongCount = outcomes !== undefined && (!Array.isArray(outcomes) || outcomes.length !== io.length);
      io.forEach(({ at }, k) => {
        const id = batch[at]!.id;
        if (!finishing.ok) results[at] = this.host.failure(id, finishing.error);
        else if (wrongCount)
          results[at] = {
            id,
            ok: false,
            kind: 'error',
            error: { tag: 'other', val: `invoke-plan.finish returned ${outcomes?.length} results for ${io.length} replies` },
          };
        else {
          const o = outcomes![k]!;
          results[at] = o.tag === 'ok' ? { id, ok: true, value: o.val ?? undefined } : { id, ok: false, kind: 'error', error: o.val };
        }
      });
    }
    this.#post(results as ResultMessage[]);
  }

  /** Performs one invocation's I/O by its call's deadline. Never rejects. */
  #perform(io: InvokeIo, deadline: number): Promise<WitResult<unknown>> {
    switch (io.tag) {
      case 'redis-pipeline':
        return this.io.redisPipeline(io.val, deadline);
      case 'http-send':
        return this.io.httpSend(io.val, deadline) as Promise<WitResult<HttpResponse>>;
      default:
        return Promise.resolve({ tag: 'err', val: { tag: 'other', val: `unknown invoke-io ${(io as { tag: string }).tag}` } satisfies WitError });
    }
  }
}
