/**
 * The "did you mean" for an unknown component type, and its bound on long input.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { closestType, MAX_SUGGESTED_TYPE_CHARS, unknownTypeParts } from '../../host/src/components/closest-type.js';

const KNOWN = ['bindings.http', 'pubsub.mqtt3', 'pubsub.redis', 'state.postgres', 'state.redis'];

it('closest type: a near miss is suggested; the same building block wins a tie', () => {
  assert.equal(closestType('state.postgre', KNOWN), 'state.postgres');
  assert.equal(closestType('pubsub.mqtt5', KNOWN), 'pubsub.mqtt3');
  assert.deepEqual(unknownTypeParts('state.redys', KNOWN), { shown: 'state.redys', closest: "'state.redis'" });
  assert.deepEqual(unknownTypeParts('state.redis', []), { shown: 'state.redis', closest: 'none' });
});

it(`closest type: a type over ${MAX_SUGGESTED_TYPE_CHARS} characters gets no suggestion at once and is shown cut, saying it is too long`, () => {
  const long = `state.${'x'.repeat(250_000)}`;
  const t0 = performance.now();
  assert.equal(closestType(long, KNOWN), undefined);
  const parts = unknownTypeParts(long, KNOWN);
  assert.ok(performance.now() - t0 < 50, `took ${performance.now() - t0} ms`);
  assert.equal(parts.shown, `${long.slice(0, MAX_SUGGESTED_TYPE_CHARS)}...`);
  assert.match(parts.closest, /^none, the type is too long \(250006 characters, more than 64\)$/);
  assert.equal(closestType('s'.repeat(MAX_SUGGESTED_TYPE_CHARS), KNOWN) !== undefined, true);
});
