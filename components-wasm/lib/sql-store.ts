/**
 * A state store over `mortar:host/sql`, shared by state.sqlite and state.postgresql.
 *
 * Layout: one table `(key PRIMARY KEY, value bytes, etag text, expires_at ms-since-epoch or NULL)`.
 * ETags are random 128-bit hex strings made by the database, so an ETag from a deleted key never matches
 * its successor. Every conditional write is one statement whose affected-row count tells whether the ETag
 * (or first-write) condition held; transactions run as one `batch`, rolled back on any unmet expectation.
 */
import type * as S from 'mortar:component/state-store@0.1.0';
import type * as L from 'mortar:component/key-listing@0.1.0';
import { Connection, type DbValue, type Statement, type RowSet, type Dialect } from 'mortar:host/sql@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { fromHostError, hostPayload, i64, rfc3339, stateError, ttlSeconds, type Pairs, type StateError } from './guest.js';

const ETAG = /^[0-9a-f]{32}$/;

export interface SqlStoreConfig {
  dialect: Dialect;
  address: string;
  table: string;
}

export class SqlStateStore {
  #conn?: Connection;
  #t = '';
  #p: (i: number) => string = () => '?';
  #newEtag = '';

  constructor(readonly dialect: Dialect) {
    this.#p = dialect === 'postgres' ? (i) => `$${i}` : () => '?';
    this.#newEtag = dialect === 'postgres' ? 'md5(random()::text || clock_timestamp()::text)' : 'lower(hex(randomblob(16)))';
  }

  init(cfg: SqlStoreConfig): void {
    if (!/^[A-Za-z_][A-Za-z0-9_.]{0,62}$/.test(cfg.table)) throw { tag: 'invalid-metadata', val: `tableName: '${cfg.table}' is not a valid table name` };
    this.#t = cfg.table;
    try {
      this.#conn = Connection.open(cfg.dialect, cfg.address);
      const bytes = cfg.dialect === 'postgres' ? 'bytea' : 'BLOB';
      this.#conn.batch([
        st(`CREATE TABLE IF NOT EXISTS ${this.#t} (key TEXT NOT NULL PRIMARY KEY, value ${bytes} NOT NULL, etag TEXT NOT NULL, expires_at BIGINT NULL)`),
        st(`SELECT key, value, etag, expires_at FROM ${this.#t} WHERE 1 = 0`),
      ]);
    } catch (err) {
      const e = fromHostError(err);
      throw { tag: e.tag === 'unavailable' ? 'unavailable' : 'other', val: `table ${this.#t}: ${e.val ?? e.tag}` };
    }
  }

  ping(): void {
    try {
      this.#c().query(st('SELECT 1'));
    } catch (err) {
      throw String(fromHostError(err).val);
    }
  }

  #c(): Connection {
    if (!this.#conn) throw stateError('other', 'not initialised');
    return this.#conn;
  }

  #run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      throw mapSqlError(err);
    }
  }

  get(r: S.GetRequest): S.Item | undefined {
    let rs: RowSet;
    try {
      rs = this.#c().query(
        st(`SELECT value, etag, expires_at FROM ${this.#t} WHERE key = ${this.#p(1)} AND (expires_at IS NULL OR expires_at > ${this.#p(2)})`, [
          text(r.key),
          int(now()),
        ]),
      );
    } catch (err) {
      throw mapSqlError(err);
    }
    const row = rs.rows[0];
    return row ? toItem(row) : undefined;
  }

  bulkGet(rs: S.GetRequest[]): S.BulkGetItem[] {
    const found = new Map<string, S.Item>();
    const keys = [...new Set(rs.map((r) => r.key))];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const ph = chunk.map((_, j) => this.#p(j + 2)).join(', ');
      let out: RowSet;
      try {
        out = this.#c().query(
          st(`SELECT key, value, etag, expires_at FROM ${this.#t} WHERE (expires_at IS NULL OR expires_at > ${this.#p(1)}) AND key IN (${ph})`, [
            int(now()),
            ...chunk.map(text),
          ]),
        );
      } catch (err) {
        throw mapSqlError(err);
      }
      for (const row of out.rows) found.set(str(row[0]!), toItem(row.slice(1)));
    }
    return rs.map((r) => ({ key: r.key, item: found.get(r.key), error: undefined }));
  }

  /** The statement for one write, with the expectation that encodes its ETag condition. */
  setStatement(r: S.SetRequest, at: number): Statement {
    const ttl = ttlSeconds(r.metadata, at);
    const expires = ttl === undefined ? ({ tag: 'null' } as DbValue) : int(at + ttl * 1000);
    const p = this.#p;
    if (r.etag != null) {
      if (!ETAG.test(r.etag)) throw stateError('etag-invalid', `'${r.etag}' is not an ETag issued by this store`);
      return st(
        `UPDATE ${this.#t} SET value = ${p(1)}, etag = ${this.#newEtag}, expires_at = ${p(2)} WHERE key = ${p(3)} AND etag = ${p(4)} AND (expires_at IS NULL OR expires_at > ${p(5)})`,
        [bin(r.value), expires, text(r.key), text(r.etag), int(at)],
        1,
      );
    }
    if (r.concurrency === 'first-write') {
      return st(
        `INSERT INTO ${this.#t} (key, value, etag, expires_at) VALUES (${p(1)}, ${p(2)}, ${this.#newEtag}, ${p(3)})
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, expires_at = excluded.expires_at
        WHERE ${this.#t}.expires_at IS NOT NULL AND ${this.#t}.expires_at <= ${p(4)}`,
        [text(r.key), bin(r.value), expires, int(at)],
        1,
      );
    }
    return st(
      `INSERT INTO ${this.#t} (key, value, etag, expires_at) VALUES (${p(1)}, ${p(2)}, ${this.#newEtag}, ${p(3)})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, expires_at = excluded.expires_at`,
      [text(r.key), bin(r.value), expires],
    );
  }

  deleteStatement(r: S.DeleteRequest, at: number): Statement {
    if (r.etag != null) {
      if (!ETAG.test(r.etag)) throw stateError('etag-invalid', `'${r.etag}' is not an ETag issued by this store`);
      return st(
        `DELETE FROM ${this.#t} WHERE key = ${this.#p(1)} AND etag = ${this.#p(2)} AND (expires_at IS NULL OR expires_at > ${this.#p(3)})`,
        [text(r.key), text(r.etag), int(at)],
        1,
      );
    }
    return st(`DELETE FROM ${this.#t} WHERE key = ${this.#p(1)}`, [text(r.key)]);
  }

  set(r: S.SetRequest): void {
    const s = this.setStatement(r, now());
    this.#run(() => {
      this.#c().query(s);
    });
  }

  delete(r: S.DeleteRequest): void {
    const s = this.deleteStatement(r, now());
    this.#run(() => {
      this.#c().query(s);
    });
  }

  bulkSet(rs: S.SetRequest[]): S.KeyedError[] {
    return this.#each(rs, (r) => this.set(r));
  }

  bulkDelete(rs: S.DeleteRequest[]): S.KeyedError[] {
    return this.#each(rs, (r) => this.delete(r));
  }

  #each<R extends { key: string }>(rs: R[], fn: (r: R) => void): S.KeyedError[] {
    const failed: S.KeyedError[] = [];
    for (const r of rs) {
      try {
        fn(r);
      } catch (e) {
        const err = e as StateError;
        if (err.tag === 'unavailable') throw err;
        failed.push({ key: r.key, error: err as S.StateError });
      }
    }
    return failed;
  }

  /** In key order (the database's collation, which the cursor comparison uses too); the cursor is the page's last key. */
  listKeys(prefix: string, cursor: string | undefined, limit: number): L.KeyPage {
    const n = Math.min(Math.max(1, Math.floor(limit)), 10_000);
    const p = this.#p;
    let rs: RowSet;
    try {
      rs = this.#c().query(
        st(
          `SELECT key FROM ${this.#t} WHERE substr(key, 1, length(${p(1)})) = ${p(2)} AND key > ${p(3)} AND (expires_at IS NULL OR expires_at > ${p(4)}) ORDER BY key LIMIT ${n + 1}`,
          [text(prefix), text(prefix), text(cursor ?? ''), int(now())],
        ),
      );
    } catch (err) {
      throw mapSqlError(err);
    }
    const keys = rs.rows.slice(0, n).map((row) => str(row[0]!));
    return { keys, cursor: rs.rows.length > n ? keys[keys.length - 1] : undefined };
  }

  transact(ops: S.Operation[]): void {
    const at = now();
    const stmts = ops.map((op) => (op.tag === 'upsert' ? this.setStatement(op.val, at) : this.deleteStatement(op.val, at)));
    try {
      this.#c().batch(stmts);
    } catch (err) {
      const x = hostPayload(err);
      if (x?.tag === 'expectation-failed') {
        const op = ops[Number(x.val ?? 0)]!;
        throw stateError('etag-mismatch', `key ${op.val.key}: ETag or first-write condition not met; nothing was changed`);
      }
      throw fromHostError(err);
    }
  }
}

function mapSqlError(err: unknown): StateError {
  if (hostPayload(err)?.tag === 'expectation-failed') return stateError('etag-mismatch', 'ETag or first-write condition not met');
  return fromHostError(err);
}

function now(): number {
  return Number(nowMs());
}
function st(sql: string, params: DbValue[] = [], rows?: number): Statement {
  return { sql, params, expect: rows === undefined ? undefined : { tag: 'rows', val: i64(rows) } };
}
function text(v: string): DbValue {
  return { tag: 'text', val: v };
}
function bin(v: Uint8Array): DbValue {
  return { tag: 'binary', val: v };
}
function int(v: number): DbValue {
  return { tag: 'int64', val: i64(v) };
}
function str(v: DbValue): string {
  return v.tag === 'text' ? v.val : '';
}

function toItem(row: DbValue[]): S.Item {
  const [value, etag, expires] = row;
  const data = value?.tag === 'binary' ? value.val : value?.tag === 'text' ? new Uint8Array(0) : new Uint8Array(0);
  const metadata: Pairs = expires && expires.tag === 'int64' ? [['ttlExpireTime', rfc3339(Number(expires.val))]] : [];
  return { data, etag: etag ? str(etag) : undefined, metadata };
}

/** The `state-store` export of a component backed by `store`. */
export function stateStoreExports(store: SqlStateStore) {
  return {
    get: (r: S.GetRequest) => store.get(r),
    bulkGet: (rs: S.GetRequest[]) => store.bulkGet(rs),
    set: (r: S.SetRequest) => store.set(r),
    bulkSet: (rs: S.SetRequest[]) => store.bulkSet(rs),
    delete: (r: S.DeleteRequest) => store.delete(r),
    bulkDelete: (rs: S.DeleteRequest[]) => store.bulkDelete(rs),
    transact: (ops: S.Operation[], _m: Pairs) => store.transact(ops),
  };
}

/** The `key-listing` export of a component backed by `store`. */
export function keyListingExport(store: SqlStateStore) {
  return {
    listKeys: (prefix: string, cursor: string | undefined, limit: number) => store.listKeys(prefix, cursor, limit),
  };
}
