/**
 * The host's `mortar:host/sql` capability against the real databases: one shared contract for PostgreSQL,
 * MariaDB and SQLite (queries, typed values, and batches that roll back on an unmet expectation).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SqlDatabases, type Dialect, type DbValue } from '../../host/src/capabilities/sql.js';
import { PG_URL, tempDir } from '../helpers/sidecar.js';

const MYSQL_URL = process.env.MORTAR_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';
const dbs = new SqlDatabases(tempDir('sqlcap'));
after(() => dbs.closeAll());

const text = (v: string): DbValue => ({ tag: 'text', val: v });
const int = (v: number | bigint): DbValue => ({ tag: 'int64', val: BigInt(v) });
const targets: Array<[Dialect, string, (i: number) => string, string]> = [
  ['postgres', PG_URL, (i) => `$${i}`, 'bytea'],
  ['mysql', MYSQL_URL, () => '?', 'BLOB'],
  ['sqlite', 'capability.db', () => '?', 'BLOB'],
];

for (const [dialect, address, p, blob] of targets) {
  describe(`sql capability: ${dialect}`, () => {
    const { db } = dbs.acquire(dialect, address);
    const t = `cap_${randomUUID().slice(0, 8)}`;

    it('creates, writes and reads typed values', async () => {
      await db.query({ sql: `CREATE TABLE ${t} (k VARCHAR(64) PRIMARY KEY, n BIGINT, b ${blob})`, params: [] });
      const w = await db.query({
        sql: `INSERT INTO ${t} (k, n, b) VALUES (${p(1)}, ${p(2)}, ${p(3)})`,
        params: [text('a'), int(9007199254740993n), { tag: 'binary', val: new Uint8Array([0, 1, 255]) }],
      });
      assert.equal(w.affected, 1n);
      const r = await db.query({ sql: `SELECT k, n, b FROM ${t} WHERE k = ${p(1)}`, params: [text('a')] });
      assert.equal(r.rows.length, 1);
      assert.deepEqual(r.rows[0]![0], text('a'));
      assert.deepEqual(r.rows[0]![1], { tag: 'int64', val: 9007199254740993n });
      assert.deepEqual(r.rows[0]![2], { tag: 'binary', val: new Uint8Array([0, 1, 255]) });
    });

    it('a batch whose expectation fails rolls back every statement', async () => {
      await assert.rejects(
        db.batch([
          { sql: `INSERT INTO ${t} (k, n) VALUES (${p(1)}, ${p(2)})`, params: [text('b'), int(1)] },
          { sql: `UPDATE ${t} SET n = 2 WHERE k = ${p(1)}`, params: [text('nobody')], expect: { tag: 'rows', val: 1n } },
        ]),
        (e: unknown) => (e as { tag: string; val: number }).tag === 'expectation-failed' && (e as { val: number }).val === 1,
      );
      const r = await db.query({ sql: `SELECT k FROM ${t} WHERE k = ${p(1)}`, params: [text('b')] });
      assert.equal(r.rows.length, 0, 'the insert was rolled back');
      const ok = await db.batch([
        { sql: `INSERT INTO ${t} (k, n) VALUES (${p(1)}, ${p(2)})`, params: [text('c'), int(3)] },
        { sql: `UPDATE ${t} SET n = 4 WHERE k = ${p(1)}`, params: [text('c')], expect: { tag: 'min-rows', val: 1n } },
      ]);
      assert.equal(ok[1]!.affected, 1n);
    });

    if (dialect === 'sqlite')
      it('a string of two statements is refused as a `statement` error, and neither runs (node:sqlite would run only the first)', async () => {
        await assert.rejects(
          db.query({ sql: `INSERT INTO ${t} (k, n) VALUES ('x1', 1); INSERT INTO ${t} (k, n) VALUES ('x2', 2)`, params: [] }),
          (e: unknown) => (e as { tag: string; val: string }).tag === 'statement' && /more than one statement/.test((e as { val: string }).val),
        );
        const r = await db.query({ sql: `SELECT k FROM ${t} WHERE k IN ('x1', 'x2')`, params: [] });
        assert.equal(r.rows.length, 0);
        // A trailing semicolon or comment is no second statement.
        assert.equal((await db.query({ sql: `SELECT 1; -- done`, params: [] })).rows.length, 1);
      });

    it("a bad statement is a `statement` error naming the database's message", async () => {
      await assert.rejects(db.query({ sql: `SELEKT 1`, params: [] }), (e: unknown) => (e as { tag: string }).tag === 'statement');
      await db.query({ sql: `DROP TABLE ${t}`, params: [] });
    });
  });
}
