/**
 * Cron schedules as Dapr's `bindings.cron` parses them: `dapr/kit/cron` (a fork of robfig/cron v3) with
 * `SecondOptional | Minute | Hour | Dom | Month | Dow | Descriptor`. That is five fields, or six with
 * seconds first; names (`jan`, `mon`), ranges, steps, `*` and `?`; the descriptors `@yearly`
 * (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly` and `@every <Go duration>`; and a
 * `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix. `next` is a port of `SpecSchedule.Next`, wall-clock fields
 * taken in the schedule's zone through `mortar:host/clock.zone-offset-ms`.
 */
import { zoneOffsetMs } from 'mortar:host/clock@0.1.0';
import { i64 } from './guest.js';
import { parseGoDuration } from './binding.js';

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const SECONDS: Bounds = { min: 0, max: 59 };
const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DOM: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = { min: 1, max: 12, names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 } };
const DOW: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

/** The values a field allows, and whether it was written with `*` or `?` (robfig's star bit). */
interface Field {
  values: Set<number>;
  star: boolean;
}

/** A parsed schedule. `zone` is an IANA name, `UTC`, or `''` for the host's local zone (Go's `time.Local`). */
export type Schedule =
  | { kind: 'every'; ms: number }
  | { kind: 'spec'; zone: string; second: Field; minute: Field; hour: Field; dom: Field; month: Field; dow: Field };

/** Thrown by `parseSchedule` with robfig's message. */
export class ScheduleError extends Error {}

function parseInt10(expr: string): number {
  if (!/^[+-]?\d+$/.test(expr)) throw new ScheduleError(`failed to parse int from ${expr}: strconv.Atoi: parsing "${expr}": invalid syntax`);
  const n = Number(expr);
  if (n < 0) throw new ScheduleError(`negative number (${n}) not allowed: ${expr}`);
  return n;
}

function intOrName(expr: string, b: Bounds): number {
  const named = b.names?.[expr.toLowerCase()];
  return named !== undefined ? named : parseInt10(expr);
}

function range(expr: string, b: Bounds): Field {
  const rangeAndStep = expr.split('/');
  const lowHigh = rangeAndStep[0]!.split('-');
  const single = lowHigh.length === 1;
  let start: number;
  let end: number;
  let star = false;
  if (lowHigh[0] === '*' || lowHigh[0] === '?') {
    start = b.min;
    end = b.max;
    star = true;
  } else {
    start = intOrName(lowHigh[0]!, b);
    if (lowHigh.length === 1) end = start;
    else if (lowHigh.length === 2) end = intOrName(lowHigh[1]!, b);
    else throw new ScheduleError(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = parseInt10(rangeAndStep[1]!);
    if (single) end = b.max; // "N/step" means "N-max/step"
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) {
    throw new ScheduleError(`too many slashes: ${expr}`);
  }
  if (start < b.min) throw new ScheduleError(`beginning of range (${start}) below minimum (${b.min}): ${expr}`);
  if (end > b.max) throw new ScheduleError(`end of range (${end}) above maximum (${b.max}): ${expr}`);
  if (start > end) throw new ScheduleError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new ScheduleError(`step of range should be a positive number: ${expr}`);
  const values = new Set<number>();
  for (let i = start; i <= end; i += step) values.add(i);
  return { values, star };
}

function field(text: string, b: Bounds): Field {
  const out: Field = { values: new Set(), star: false };
  for (const expr of text.split(',').filter((x) => x !== '')) {
    const r = range(expr, b);
    for (const v of r.values) out.values.add(v);
    out.star ||= r.star;
  }
  return out;
}

const only = (v: number): Field => ({ values: new Set([v]), star: false });
const all = (b: Bounds): Field => range('*', b);

/** Whether the host knows `zone` (it answers an offset for it). */
function knownZone(zone: string): boolean {
  // An unknown zone is `none` (undefined or null, as the binding lowers it).
  return zone === 'UTC' || zone === '' || zoneOffsetMs(zone, i64(0)) != null;
}

/** Parses a schedule; throws ScheduleError with robfig's reason. */
export function parseSchedule(input: string): Schedule {
  let spec = input;
  if (spec.length === 0) throw new ScheduleError('empty spec string');
  let zone = '';
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
    const i = spec.indexOf(' ');
    const eq = spec.indexOf('=');
    if (i < 0) throw new ScheduleError(`provided bad location ${spec.slice(eq + 1)}: no schedule after the time zone`);
    const name = spec.slice(eq + 1, i);
    // Go's time.LoadLocation: "" and "UTC" are UTC, "Local" the local zone.
    zone = name === '' || name === 'UTC' ? 'UTC' : name === 'Local' ? '' : name;
    if (!knownZone(zone)) throw new ScheduleError(`provided bad location ${name}: unknown time zone ${name}`);
    spec = spec.slice(i).trim();
  }
  if (spec.startsWith('@')) return descriptor(spec, zone);
  let fields = spec.split(/\s+/).filter((f) => f !== '');
  if (fields.length < 5 || fields.length > 6) throw new ScheduleError(`expected 5 to 6 fields, found ${fields.length}: [${fields.join(' ')}]`);
  if (fields.length === 5) fields = ['0', ...fields];
  return {
    kind: 'spec',
    zone,
    second: field(fields[0]!, SECONDS),
    minute: field(fields[1]!, MINUTES),
    hour: field(fields[2]!, HOURS),
    dom: field(fields[3]!, DOM),
    month: field(fields[4]!, MONTHS),
    dow: field(fields[5]!, DOW),
  };
}

function descriptor(d: string, zone: string): Schedule {
  const at = (month: Field, dom: Field, dow: Field, hour: Field = only(0)): Schedule => ({
    kind: 'spec',
    zone,
    second: only(0),
    minute: only(0),
    hour,
    dom,
    month,
    dow,
  });
  switch (d) {
    case '@yearly':
    case '@annually':
      return at(only(1), only(1), all(DOW));
    case '@monthly':
      return at(all(MONTHS), only(1), all(DOW));
    case '@weekly':
      return at(all(MONTHS), all(DOM), only(0));
    case '@daily':
    case '@midnight':
      return at(all(MONTHS), all(DOM), all(DOW));
    case '@hourly':
      return at(all(MONTHS), all(DOM), all(DOW), all(HOURS));
    default:
      break;
  }
  if (d.startsWith('@every ')) {
    const text = d.slice('@every '.length);
    const ms = parseGoDuration(text);
    if (ms === undefined) throw new ScheduleError(`failed to parse duration ${d}: time: invalid duration "${text}"`);
    // Dapr's fork takes any duration; one of zero or less would fire without end, so it is refused here.
    if (ms <= 0) throw new ScheduleError(`failed to parse duration ${d}: the interval must be more than zero`);
    return { kind: 'every', ms };
  }
  throw new ScheduleError(`unrecognized descriptor: ${d}`);
}

/** Wall-clock fields of an instant in a zone. */
interface Fields {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  wd: number;
}

function offset(zone: string, t: number): number {
  if (zone === 'UTC') return 0;
  return zoneOffsetMs(zone, i64(t)) ?? 0;
}

function fieldsOf(zone: string, t: number): Fields {
  const l = new Date(t + offset(zone, t));
  return {
    y: l.getUTCFullYear(),
    mo: l.getUTCMonth() + 1,
    d: l.getUTCDate(),
    h: l.getUTCHours(),
    mi: l.getUTCMinutes(),
    s: l.getUTCSeconds(),
    wd: l.getUTCDay(),
  };
}

/** Go's `time.Date(y, mo, d, h, mi, s, 0, zone)`, normalising overflows and choosing the offset as Go does. */
function dateIn(zone: string, y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  const o1 = offset(zone, local);
  const o2 = offset(zone, local - o1);
  return local - (o2 !== o1 ? o2 : o1);
}

function dayMatches(s: Extract<Schedule, { kind: 'spec' }>, f: Fields): boolean {
  const domMatch = s.dom.values.has(f.d);
  const dowMatch = s.dow.values.has(f.wd);
  return s.dom.star || s.dow.star ? domMatch && dowMatch : domMatch || dowMatch;
}

/**
 * The first activation strictly after `from` (ms since the epoch), or undefined when none comes within
 * five years (robfig's limit). `@every d` is `from + d`.
 */
export function nextAfter(s: Schedule, from: number): number | undefined {
  if (s.kind === 'every') return from + s.ms;
  const z = s.zone;
  const f = (t: number) => fieldsOf(z, t);
  // The earliest possible time: the upcoming second.
  let t = Math.floor(from / 1000) * 1000 + 1000;
  let added = false;
  const yearLimit = f(t).y + 5;
  wrap: for (;;) {
    if (f(t).y > yearLimit) return undefined;
    while (!s.month.values.has(f(t).mo)) {
      if (!added) {
        added = true;
        const x = f(t);
        t = dateIn(z, x.y, x.mo, 1, 0, 0, 0);
      }
      const x = f(t);
      t = dateIn(z, x.y, x.mo + 1, x.d, x.h, x.mi, x.s);
      if (f(t).mo === 1) continue wrap;
    }
    while (!dayMatches(s, f(t))) {
      if (!added) {
        added = true;
        const x = f(t);
        t = dateIn(z, x.y, x.mo, x.d, 0, 0, 0);
      }
      const x = f(t);
      t = dateIn(z, x.y, x.mo, x.d + 1, x.h, x.mi, x.s);
      // Where DST moved midnight, get back to it (robfig's Sao Paulo note).
      const h = f(t).h;
      if (h !== 0) t = h > 12 ? t + (24 - h) * 3_600_000 : t - h * 3_600_000;
      if (f(t).d === 1) continue wrap;
    }
    while (!s.hour.values.has(f(t).h)) {
      if (!added) {
        added = true;
        const x = f(t);
        t = dateIn(z, x.y, x.mo, x.d, x.h, 0, 0);
      }
      t += 3_600_000;
      if (f(t).h === 0) continue wrap;
    }
    while (!s.minute.values.has(f(t).mi)) {
      if (!added) {
        added = true;
        t = Math.floor(t / 60_000) * 60_000;
      }
      t += 60_000;
      if (f(t).mi === 0) continue wrap;
    }
    while (!s.second.values.has(f(t).s)) {
      if (!added) {
        added = true;
        t = Math.floor(t / 1000) * 1000;
      }
      t += 1000;
      if (f(t).s === 0) continue wrap;
    }
    return t;
  }
}
