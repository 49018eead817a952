/**
 * The check threads: a schema thread has ajv loaded before it takes its first task, so the time limit on a
 * check counts the check alone.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { CheckThread } from '../../host/src/components/check-thread.js';

const SCHEMA = JSON.stringify({ type: 'object', properties: { host: { type: 'string', pattern: '^[a-z]+$' } } });

it('schema checks: the first check on a fresh thread, and the first after a restart, finish within a 100 ms limit (loading ajv is not counted)', async () => {
  // Loading ajv and its first compile take about 170 ms here: were it counted, the first check would overrun a 100 ms limit.
  const t = new CheckThread('schema', 0, 100);
  try {
    assert.deepEqual(await t.validate(SCHEMA, { host: 'redis' }), { ok: true, value: { host: 'redis' } });
    await t.close();
    const r = await t.validate(SCHEMA, { host: 'REDIS' });
    assert.equal(r.ok, false);
  } finally {
    await t.close();
  }
});

it('yaml thread: parses resource files and refuses schema checks (it never loads ajv)', async () => {
  const t = new CheckThread('yaml', 0);
  try {
    const r = await t.parse('c.yaml', 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: s\nspec:\n  type: state.redis\n  version: v1\n');
    assert.equal(r.resources.length, 1);
    await assert.rejects(t.validate(SCHEMA, {}), /does not validate schemas/);
  } finally {
    await t.close();
  }
});
