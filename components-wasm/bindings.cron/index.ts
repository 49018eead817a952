// world: input-binding-component
/**
 * bindings.cron: an input binding that fires on a schedule, as Dapr's `bindings.cron` (components-contrib
 * `bindings/cron/cron.go`): metadata `schedule` only, in dapr/kit/cron's syntax (see lib/cron-schedule.ts).
 *
 * Each tick is one event with no data and the metadata Dapr's cron sends: `timeZone` (Go's
 * `c.Location().String()`: the cron runs in `time.Local`, whose name is `Local`) and `readTimeUTC` (Go's
 * `time.Now().UTC().String()` when it fires). `open` arms the schedule from the wall clock; `fetch` waits
 * (`mortar:host/clock.wait-ms`, no spinning) until the next tick when it falls within its wait, and never
 * hands a tick out before its time. A tick is handed out at most once: the last one fired is remembered,
 * and the next is computed after it, as robfig/cron does after a wake-up (`Next(now)`): a tick missed while
 * nobody fetched fires once, late, and the ticks it covered are skipped, not replayed. `@every d` keeps its
 * phase (tick n is open + n·d) while it keeps up, so waking late does not drift the later ticks.
 *
 * `max-instances` is 1: the schedule state lives in the instance, and two instances would each fire every
 * tick. `nack` drops the event (a schedule cannot hand a tick out again), as the WIT says.
 */
import type * as I from 'mortar:component/input-binding@0.1.0';
import { nowMs, monotonicMs, waitMs } from 'mortar:host/clock@0.1.0';
import { schema, toMap, type Pairs } from '../lib/guest.js';
import { goUtcString } from '../lib/binding.js';
import { nextAfter, parseSchedule, ScheduleError, type Schedule } from '../lib/cron-schedule.js';

let schedule: Schedule | undefined;
/** The next tick (ms since the epoch) while armed; undefined when closed or when the schedule never fires. */
let next: number | undefined;
let armed = false;
/** The last tick handed out: no tick at or before it is handed out again. */
let lastFired = -Infinity;
const unsettled = new Set<string>();

const now = (): number => Number(nowMs());

function arm(): void {
  if (armed || !schedule) return;
  armed = true;
  next = nextAfter(schedule, Math.max(now(), Number.isFinite(lastFired) ? lastFired : -Infinity));
}

/** The tick after `tick` fired at `at`: robfig's `Next(now)`, and for `@every` the tick's phase kept while on time. */
function following(tick: number, at: number): number | undefined {
  if (!schedule) return undefined;
  if (schedule.kind === 'every') {
    const n = tick + schedule.ms;
    return n > at ? n : at + schedule.ms;
  }
  return nextAfter(schedule, Math.max(at, tick));
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `cron` (dapr/dapr cmd/daprd/components/binding_cron.go).
      types: ['bindings.cron'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          schedule: {
            type: 'string',
            minLength: 1,
            description:
              'The cron schedule: "@every 15s", "@daily", six fields with seconds ("0 30 * * * *") or five without; a "CRON_TZ=<zone> " prefix sets the time zone.',
            'x-example': '@every 15m',
          },
        },
        ['schedule'],
      ),
      maxInstances: 1,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    const spec = m.schedule ?? '';
    if (spec === '') throw { tag: 'invalid-metadata', val: 'schedule: schedule not set' };
    try {
      schedule = parseSchedule(spec);
    } catch (err) {
      const why = err instanceof ScheduleError ? err.message : String(err);
      throw { tag: 'invalid-metadata', val: `schedule: invalid schedule format '${spec}': ${why}` };
    }
  },
  ping() {
    /* nothing to reach */
  },
};

export const inputBinding = {
  open(): void {
    arm();
  },

  fetch(max: number, wait: number): I.Event[] {
    arm();
    if (max === 0) return [];
    const started = monotonicMs();
    for (;;) {
      const t = now();
      if (next !== undefined && t >= next) {
        const tick = next;
        next = following(tick, t);
        if (tick <= lastFired) continue;
        lastFired = tick;
        const receipt = String(tick);
        unsettled.add(receipt);
        return [
          {
            receipt,
            data: new Uint8Array(0),
            contentType: undefined,
            metadata: [
              ['timeZone', 'Local'],
              ['readTimeUTC', goUtcString(t)],
            ],
          },
        ];
      }
      const left = wait - (monotonicMs() - started);
      if (left <= 0) return [];
      const until = next === undefined ? left : Math.min(left, next - t);
      const ms = Math.max(1, Math.ceil(until));
      const before = monotonicMs();
      waitMs(ms);
      // A wait cut short ends at the call's deadline: return rather than wait again.
      if (monotonicMs() - before < ms - 1 && (next === undefined || now() < next)) return [];
    }
  },

  ack(receipts: string[]): void {
    for (const r of receipts) unsettled.delete(r);
  },

  nack(receipts: string[], _error: string, _delayMs: number): void {
    // A tick cannot be handed out again: dropped.
    for (const r of receipts) unsettled.delete(r);
  },

  close(): void {
    armed = false;
    next = undefined;
    unsettled.clear();
  },
};
