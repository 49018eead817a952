import { it } from 'node:test';
import assert from 'node:assert/strict';
import { InFlightCalls } from '../../host/src/blocks/inflight-calls.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a call in flight longer than the stall threshold stops counting against the limit, and a re-check fires then', async () => {
  let rechecks = 0;
  const calls = new InFlightCalls(1, 50, () => {
    rechecks++;
  });
  calls.begin();
  assert.equal(calls.free(), false);
  await sleep(120);
  assert.equal(rechecks, 1);
  assert.equal(calls.free(), true);
});

it('with an infinite threshold (a pool without spares) calls count until they end, and no re-check is armed', async () => {
  let rechecks = 0;
  const calls = new InFlightCalls(2, Infinity, () => {
    rechecks++;
  });
  calls.begin();
  const end = calls.begin();
  assert.equal(calls.free(), false);
  await sleep(120);
  assert.equal(calls.free(), false);
  assert.equal(rechecks, 0);
  end();
  assert.equal(calls.free(), true);
});
