/**
 * The `mortar:host/clock` imports served inside the sandbox: zone offsets from the host's ICU data (what
 * `CRON_TZ=` schedules are computed with) and a wait that blocks without spinning and never outlasts the
 * call's budget.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { clockImports, zoneOffsetMs } from '../../host/src/components/sandbox/clock.js';

it('zone-offset-ms: IANA zones with their DST, the local zone for "", none for a zone the host does not know', () => {
  assert.equal(zoneOffsetMs('Asia/Kolkata', Date.UTC(2026, 0, 15)), 5.5 * 3_600_000);
  assert.equal(zoneOffsetMs('Europe/Berlin', Date.UTC(2026, 0, 15)), 3_600_000);
  assert.equal(zoneOffsetMs('Europe/Berlin', Date.UTC(2026, 6, 15)), 2 * 3_600_000, 'summer time');
  assert.equal(
    zoneOffsetMs('America/New_York', Date.UTC(2026, 6, 15, 12, 0, 0, 999)),
    -4 * 3_600_000,
    'milliseconds of the instant do not leak into the offset',
  );
  assert.equal(zoneOffsetMs('UTC', Date.now()), 0);
  assert.equal(zoneOffsetMs('', Date.UTC(2026, 0, 15)), -new Date(Date.UTC(2026, 0, 15)).getTimezoneOffset() * 60_000);
  assert.equal(zoneOffsetMs('Mars/Olympus', Date.now()), undefined);
  assert.equal(zoneOffsetMs('Europe/Berlin', Number.NaN), undefined);
});

it('wait-ms: blocks for the time asked, and no longer than the call has left', () => {
  let budget = 10_000;
  const clock = clockImports(() => budget) as { waitMs: (ms: number) => void };
  let t0 = performance.now();
  clock.waitMs(120);
  const waited = performance.now() - t0;
  assert.ok(waited >= 119 && waited < 400, `waited ${waited} ms for 120`);
  budget = 30;
  t0 = performance.now();
  clock.waitMs(5000);
  const capped = performance.now() - t0;
  assert.ok(capped >= 29 && capped < 300, `a 5 s wait with 30 ms left took ${capped} ms`);
  budget = -5;
  t0 = performance.now();
  clock.waitMs(5000);
  assert.ok(performance.now() - t0 < 50, 'past the deadline: no wait at all');
});
