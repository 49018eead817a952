import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type pg from 'pg';
import type * as NodeSqlite from 'node:sqlite';
import type * as MySql from 'mysql2/promise';
import { isConnectionFailure, witError, type WitError } from './wit-error.js';
import { postgresConfig } from './pg-connection.js';
import { redact } from './redact.js';
import type { CapabilityHandlers } from './capability.js';

/** Drivers are loaded on first use: a sidecar that never opens a database never pays for its driver. */
const require = createRequire(import.meta.url);
const drivers = {
  get pg(): typeof pg {
    return require('pg') as typeof pg;
  },
  get sqlite(): typeof NodeSqlite {
    return require('node:sqlite') as typeof NodeSqlite;
  },
  get mysql(): typeof MySql {
    return require('mysql2/promise') as typeof MySql;
  },
};

export type Dialect = 'postgres' | 'mysql' | 'sqlite';
export type DbValue =
  | { tag: 'null' }
  | { tag: 'boolean'; val: boolean }
  | { tag: 'int64'; val: bigint }
  | { tag: 'float64'; val: number }
  | { tag: 'text'; val: string }
  | { tag: 'binary'; val: Uint8Array };
export type Expectation = { tag: 'min-rows'; val: bigint } | { tag: 'rows'; val: bigint };
export interface Statement {
  sql: string;
  params: DbValue[];
  expect?: Expectation;
}
export interface RowSet {
  columns: string[];
  rows: DbValue[][];
  affected: bigint;
}

/** One database a component may talk to. Implementations run natively on the main thread. */
export interface SqlDatabase {
  query(s: Statement): Promise<RowSet>;
  /** All statements in one transaction; rolls back on any failure or unmet expectation. */
  batch(s: Statement[]): Promise<RowSet[]>;
  close(): Promise<void>;
}

class ExpectationFailed {
  constructor(readonly index: number) {}
}

function check(rs: RowSet, expect: Expectation | undefined, index: number): void {
  if (!expect) return;
  const need = BigInt(expect.val);
  if (expect.tag === 'rows' ? rs.affected !== need : rs.affected < need) throw new ExpectationFailed(index);
}

function fromJs(v: unknown): DbValue {
  if (v === null || v === undefined) return { tag: 'null' };
  if (typeof v === 'boolean') return { tag: 'boolean', val: v };
  if (typeof v === 'bigint') return { tag: 'int64', val: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { tag: 'int64', val: BigInt(v) } : { tag: 'float64', val: v };
  if (typeof v === 'string') return { tag: 'text', val: v };
  // Copy: a view would drag the driver's whole buffer through the structured clone to the sandbox.
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { tag: 'binary', val: new Uint8Array(v) };
  if (v instanceof Date) return { tag: 'text', val: v.toISOString() };
  return { tag: 'text', val: JSON.stringify(v) };
}

function toJs(v: DbValue): unknown {
  switch (v.tag) {
    case 'null':
      return null;
    case 'binary':
      return Buffer.from(v.val.buffer, v.val.byteOffset, v.val.byteLength);
    case 'int64':
      return v.val;
    default:
      return v.val;
  }
}

function toWit(err: unknown): WitError {
  if (err instanceof ExpectationFailed) return { tag: 'expectation-failed', val: err.index } as unknown as WitError;
  if (err && typeof err === 'object' && 'tag' in err) return err as WitError;
  const msg = err instanceof Error ? err.message : String(err);
  if (isConnectionFailure(err)) return witError('unavailable', msg);
  if ((err as { code?: string })?.code !== undefined || /SQLITE_|syntax|constraint|violat/i.test(msg)) return witError('statement', msg);
  return witError('other', msg);
}

/** One pooled connection inside a transaction: what `pooledBatch` needs from a network driver. */
interface TxConnection {
  begin(): Promise<unknown>;
  run(s: Statement): Promise<RowSet>;
  commit(): Promise<unknown>;
  rollback(): Promise<unknown>;
  release(): void;
}

/** Runs one statement and checks its expectation; driver errors become WIT errors. */
async function checkedQuery(run: (s: Statement) => Promise<RowSet>, s: Statement): Promise<RowSet> {
  try {
    const rs = await run(s);
    check(rs, s.expect, 0);
    return rs;
  } catch (err) {
    throw toWit(err);
  }
}

/** Runs `list` in one transaction on a pooled connection; rolls back on any failure or unmet expectation. */
async function pooledBatch(connect: () => Promise<TxConnection>, list: Statement[]): Promise<RowSet[]> {
  let tx: TxConnection;
  try {
    tx = await connect();
  } catch (err) {
    throw toWit(err);
  }
  try {
    await tx.begin();
    const out: RowSet[] = [];
    for (const [i, s] of list.entries()) {
      const rs = await tx.run(s);
      check(rs, s.expect, i);
      out.push(rs);
    }
    await tx.commit();
    return out;
  } catch (err) {
    await tx.rollback().catch(() => undefined);
    throw toWit(err);
  } finally {
    tx.release();
  }
}

/** PostgreSQL through a pg.Pool. int8 is read as bigint; bytea as bytes. */
class Postgres implements SqlDatabase {
  readonly #pool: pg.Pool;
  /** `address`: a `postgres://` URL or libpq's keyword/value form (see `pg-connection.ts`). */
  constructor(address: string) {
    const base: pg.PoolConfig = { max: 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 };
    let config: pg.PoolConfig;
    try {
      config = { ...base, ...postgresConfig(address) };
    } catch (err) {
      throw witError('other', `postgres connection string: ${(err as Error).message}`);
    }
    this.#pool = new drivers.pg.Pool(config);
    this.#pool.on('error', () => {
      /* a broken idle client; the pool replaces it */
    });
  }

  static #rowSet(r: pg.QueryResult): RowSet {
    const columns = r.fields?.map((f) => f.name) ?? [];
    const rows = (r.rows as unknown[][] | undefined)?.map((row) => row.map(fromJs)) ?? [];
    return { columns, rows, affected: BigInt(r.rowCount ?? rows.length) };
  }

  #run(client: pg.Pool | pg.PoolClient, s: Statement): Promise<RowSet> {
    return client.query({ text: s.sql, values: s.params.map(toJs), rowMode: 'array', types: PG_TYPES }).then(Postgres.#rowSet);
  }

  query(s: Statement): Promise<RowSet> {
    return checkedQuery((x) => this.#run(this.#pool, x), s);
  }

  batch(list: Statement[]): Promise<RowSet[]> {
    return pooledBatch(async () => {
      const c = await this.#pool.connect();
      return {
        begin: () => c.query('BEGIN'),
        run: (x) => this.#run(c, x),
        commit: () => c.query('COMMIT'),
        rollback: () => c.query('ROLLBACK'),
        release: () => c.release(),
      };
    }, list);
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

/** pg type parsers: int8 as bigint (the WIT int64), everything else pg's defaults. */
const PG_TYPES = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (v: string) => BigInt(v);
    return drivers.pg.types.getTypeParser(oid, format as 'text');
  },
} as unknown as pg.CustomTypesConfig;

/** MySQL / MariaDB through a mysql2 pool. BIGINT is read as bigint; BLOBs as bytes. */
class MySqlDatabase implements SqlDatabase {
  readonly #pool: MySql.Pool;
  constructor(uri: string) {
    this.#pool = drivers.mysql.createPool({
      uri,
      connectionLimit: 10,
      connectTimeout: 5000,
      rowsAsArray: true,
      // BIGINT as bigint (the WIT int64), exactly; everything else as mysql2 decodes it.
      typeCast: (field, next) => {
        if (field.type === 'LONGLONG') {
          const v = field.string();
          return v === null ? null : BigInt(v);
        }
        return next();
      },
    } as MySql.PoolOptions);
  }

  async #run(conn: MySql.Pool | MySql.PoolConnection, s: Statement): Promise<RowSet> {
    const [result, fields] = await conn.query({ sql: s.sql, values: s.params.map(toJs), rowsAsArray: true });
    if (Array.isArray(result)) {
      const rows = (result as unknown[][]).map((r) => r.map(fromJs));
      return { columns: (fields ?? []).map((f) => f.name), rows, affected: BigInt(rows.length) };
    }
    return { columns: [], rows: [], affected: BigInt((result as MySql.ResultSetHeader).affectedRows) };
  }

  query(s: Statement): Promise<RowSet> {
    return checkedQuery((x) => this.#run(this.#pool, x), s);
  }

  batch(list: Statement[]): Promise<RowSet[]> {
    return pooledBatch(async () => {
      const c = await this.#pool.getConnection();
      return {
        begin: () => c.beginTransaction(),
        run: (x) => this.#run(c, x),
        commit: () => c.commit(),
        rollback: () => c.rollback(),
        release: () => c.release(),
      };
    }, list);
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

/** An embedded SQLite file (Node's own `node:sqlite`), in WAL mode: a commit survives the process being killed. */
class Sqlite implements SqlDatabase {
  readonly #db: NodeSqlite.DatabaseSync;
  readonly #stmts = new Map<string, { st: NodeSqlite.StatementSync; columns: string[] }>();

  constructor(file: string) {
    this.#db = new drivers.sqlite.DatabaseSync(file, { timeout: 5000 });
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
  }

  #prepare(sql: string): { st: NodeSqlite.StatementSync; columns: string[] } {
    let p = this.#stmts.get(sql);
    if (!p) {
      const st = this.#db.prepare(sql);
      // node:sqlite compiles the first statement and drops the rest unread (better-sqlite3 refused them).
      const rest = sql.slice(sql.indexOf(st.sourceSQL) + st.sourceSQL.length);
      if (rest.replace(/--[^\n]*|\/\*[\s\S]*?\*\/|[\s;]/g, '') !== '') throw witError('statement', 'the SQL string holds more than one statement');
      st.setReadBigInts(true);
      st.setReturnArrays(true);
      // A statement that returns rows (a SELECT, or a write with RETURNING) has result columns.
      p = { st, columns: st.columns().map((c) => c.name) };
      if (this.#stmts.size > 256) this.#stmts.clear();
      this.#stmts.set(sql, p);
    }
    return p;
  }

  #run(s: Statement): RowSet {
    const { st, columns } = this.#prepare(s.sql);
    const params = s.params.map((p) => (p.tag === 'boolean' ? (p.val ? 1n : 0n) : toJs(p))) as NodeSqlite.SQLInputValue[];
    if (columns.length > 0) {
      const rows = (st.all(...params) as unknown as unknown[][]).map((r) => r.map(fromJs));
      return { columns, rows, affected: BigInt(rows.length) };
    }
    const info = st.run(...params);
    return { columns: [], rows: [], affected: BigInt(info.changes) };
  }

  async query(s: Statement): Promise<RowSet> {
    try {
      const rs = this.#run(s);
      check(rs, s.expect, 0);
      return rs;
    } catch (err) {
      throw toWit(err);
    }
  }

  async batch(list: Statement[]): Promise<RowSet[]> {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw toWit(err);
    }
    try {
      const out = list.map((s, i) => {
        const rs = this.#run(s);
        check(rs, s.expect, i);
        return rs;
      });
      this.#db.exec('COMMIT');
      return out;
    } catch (err) {
      try {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      } catch {
        /* the statement's error is the one to report */
      }
      throw toWit(err);
    }
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

/**
 * Shared database handles, one per (dialect, address), reference-counted across component instances.
 * SQLite names resolve to `<dataDir>/<name>.sqlite`; names that could escape the folder are refused.
 */
export class SqlDatabases {
  readonly #dbs = new Map<string, { db: SqlDatabase; refs: number }>();
  constructor(readonly dataDir: string) {}

  acquire(dialect: Dialect, address: string): { key: string; db: SqlDatabase } {
    const key = `${dialect}\u0000${address}`;
    let entry = this.#dbs.get(key);
    if (!entry) {
      entry = { db: this.#open(dialect, address), refs: 0 };
      this.#dbs.set(key, entry);
    }
    entry.refs++;
    return { key, db: entry.db };
  }

  #open(dialect: Dialect, address: string): SqlDatabase {
    switch (dialect) {
      case 'postgres':
        return new Postgres(address);
      case 'sqlite': {
        if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(address) || address.includes('..')) {
          throw witError('access-denied', `sqlite database name '${address}' must be letters, digits, '.', '-', '_'`);
        }
        mkdirSync(this.dataDir, { recursive: true });
        try {
          return new Sqlite(join(this.dataDir, `${address}.sqlite`));
        } catch (err) {
          throw toWit(err);
        }
      }
      case 'mysql':
        return new MySqlDatabase(address);
    }
  }

  release(key: string): void {
    const entry = this.#dbs.get(key);
    if (!entry) return;
    if (--entry.refs <= 0) {
      this.#dbs.delete(key);
      void entry.db.close().catch(() => undefined);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#dbs.values()].map((e) => e.db.close().catch(() => undefined)));
    this.#dbs.clear();
  }
}

/** A SQL handle: the shared pool and its key in `SqlDatabases`. */
interface SqlHandle {
  key: string;
  db: SqlDatabase;
}

/** `mortar:host/sql` on the host: a pool on a granted database (the grant kind names the dialect). */
export const sqlCapability: CapabilityHandlers<'sql'> = {
  functions: {},
  resources: {
    connection: {
      statics: {
        open: {
          grant: (args) => [{ kind: `sql:${args[0] as Dialect}`, value: String(args[1]), shown: redact(String(args[1])) }],
          run: async (ctx, args): Promise<SqlHandle> => ctx.connectors.sql.acquire(args[0] as Dialect, String(args[1])),
        },
      },
      methods: {
        query: (h: SqlHandle, args) => h.db.query(args[0] as Statement),
        batch: (h: SqlHandle, args) => h.db.batch(args[0] as Statement[]),
      },
      close: (h: SqlHandle, ctx) => ctx.connectors.sql.release(h.key),
    },
  },
};
