/**
 * Concurrent single-key reads of one store are coalesced into one `bulk-get`: a key the backend refuses
 * must fail only its own request, not the reads it happened to share a batch with. Real PostgreSQL, which
 * refuses a key containing NUL for the whole query (the host now refuses such a key with a 400 before any
 * component sees it), and the hostile component, whose `trap` key traps the instance serving the whole batch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { PG_URL, Sidecar, TEST_COMPONENTS, tempDir, writeComponent } from '../helpers/sidecar.js';

describe('read isolation', () => {
  let sc: Sidecar;
  const table = `isolation_${process.pid}_${Date.now()}`;
  before(async () => {
    const dir = tempDir('isolation');
    writeComponent(dir, 'pg.yaml', 'pg', 'state.postgresql', { connectionString: PG_URL, tableName: table });
    copyFileSync(join(TEST_COMPONENTS, 'hostile.wasm'), join(dir, 'hostile.wasm'));
    writeComponent(dir, 'hostile.yaml', 'hostile', 'state.hostile', { redisHost: '127.0.0.1:1' });
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
  });

  it('200 concurrent good reads on state.postgresql all answer 200 with their values while one read of a key the backend refuses fails', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `good-${i}`);
    assert.equal(
      (
        await sc.json(
          'POST',
          '/v1.0/state/pg',
          keys.map((key) => ({ key, value: key })),
        )
      ).status,
      204,
    );
    for (let round = 0; round < 3; round++) {
      // The bad read goes out among the good ones, so it shares their batches.
      const good = keys.map(async (key) => {
        const r = await sc.fetch(`/v1.0/state/pg/${key}`);
        return { key, status: r.status, text: await r.text() };
      });
      const bad = sc.fetch('/v1.0/state/pg/bad%00key');
      good.push(
        ...keys.map(async (key) => {
          const r = await sc.fetch(`/v1.0/state/pg/${key}`);
          return { key, status: r.status, text: await r.text() };
        }),
      );
      const results = await Promise.all(good);
      const failed = results.filter((r) => r.status !== 200 || r.text !== JSON.stringify(r.key));
      assert.deepEqual(failed, [], `${failed.length} of 200 good reads failed beside the bad key`);
      assert.notEqual((await bad).status, 200);
    }
  });

  it('100 concurrent good reads all answer 200 with their values while a read that traps the instance serving their batch fails alone', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `echo-${i}`);
    for (let round = 0; round < 3; round++) {
      const read = async (key: string) => {
        const r = await sc.fetch(`/v1.0/state/hostile/${key}`);
        return { key, status: r.status, text: await r.text() };
      };
      const good = keys.slice(0, 50).map(read);
      const bad = read('trap');
      good.push(...keys.slice(50).map(read));
      const results = await Promise.all(good);
      const failed = results.filter((r) => r.status !== 200 || r.text !== JSON.stringify(r.key));
      assert.deepEqual(failed, [], `${failed.length} of 100 good reads failed beside the trapping key`);
      assert.equal((await bad).status, 500);
    }
  });
});
