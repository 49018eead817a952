// world: output-binding-component
/**
 * bindings.postgresql: an output binding to PostgreSQL, as Dapr's `bindings.postgres` (components-contrib
 * `bindings/postgres/postgres.go`). Metadata `connectionString` (alias `url`), a libpq string or URL.
 *
 * Operations, the statement in the request metadata `sql` (missing: invalid-argument) and its `$1, $2`
 * parameters, optionally, in `params` as a JSON array:
 * * `exec`: runs it; no data, metadata `operation`, `sql`, `start-time`, `end-time` (RFC 3339, UTC),
 *   `duration` (Go's duration text) and `rows-affected`.
 * * `query`: runs it; the data is the rows as a JSON array of arrays of column values (pgx's
 *   `rows.Values()` marshalled: numbers, strings, booleans, null, bytea as base64), and the same metadata
 *   without `rows-affected`.
 * * `close`: lets go of this instance's connection; no response. (Dapr closes its pool for good and fails
 *   every later call; here the next call opens it again.)
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import { Connection, type DbValue, type RowSet } from 'mortar:host/sql@0.1.0';
import { monotonicMs, nowMs } from 'mortar:host/clock@0.1.0';
import { i64, schema, toMap, type Pairs } from '../lib/guest.js';
import { bindingError, bindingFromHost, formatGoDuration, parseGoDuration, prop, response, rfc3339Nano, unsupported } from '../lib/binding.js';

const OPERATIONS = ['exec', 'query', 'close'];

let address = '';
let conn: Connection | undefined;

function connection(): Connection {
  if (!conn) {
    try {
      conn = Connection.open('postgres', address);
    } catch (err) {
      throw bindingFromHost(err, 'unable to connect to the DB');
    }
  }
  return conn;
}

function release(): void {
  const c = conn;
  conn = undefined;
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  try {
    if (c && dispose) (c as unknown as Record<symbol, () => void>)[dispose]?.();
  } catch {
    /* already gone */
  }
}

function param(v: unknown): DbValue {
  if (v === null || v === undefined) return { tag: 'null' };
  if (typeof v === 'boolean') return { tag: 'boolean', val: v };
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? { tag: 'int64', val: i64(v) } : { tag: 'float64', val: v };
  if (typeof v === 'string') return { tag: 'text', val: v };
  return { tag: 'text', val: JSON.stringify(v) };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Go's `encoding/json` writes a `[]byte` as standard, padded base64. */
function base64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + (i + 1 < b.length ? B64[(n >> 6) & 63]! : '=') + (i + 2 < b.length ? B64[n & 63]! : '=');
  }
  return s;
}

function jsonValue(v: DbValue): unknown {
  switch (v.tag) {
    case 'null':
      return null;
    case 'binary':
      return base64(v.val);
    case 'int64':
      return Number(v.val);
    default:
      return v.val;
  }
}

/** Parses `params`: a JSON array, else invalid-argument naming it. */
function params(raw: string | undefined): DbValue[] {
  if (raw === undefined || raw === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw bindingError('invalid-argument', `params: invalid metadata property params: failed to unserialize into an array: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw bindingError('invalid-argument', 'params: invalid metadata property params: failed to unserialize into an array');
  return parsed.map(param);
}

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `postgres` and `postgresql` (dapr/dapr cmd/daprd/components/binding_postgres.go).
      types: ['bindings.postgresql', 'bindings.postgres'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema({
        connectionString: {
          type: 'string',
          minLength: 1,
          'x-mortar-grant': 'sql:postgres',
          'x-sensitive': true,
          description: 'libpq connection string or URL, e.g. postgres://user:password@127.0.0.1:5432/db',
        },
        url: { type: 'string', minLength: 1, 'x-mortar-grant': 'sql:postgres', 'x-sensitive': true, description: 'Alias of connectionString.' },
        timeout: { type: 'string', description: 'Accepted for Dapr compatibility; the call deadline bounds every operation.' },
        timeoutInSeconds: { type: 'string' },
        maxConns: { type: 'integer' },
        connectionMaxIdleTime: { type: 'string' },
        queryExecMode: { type: 'string', enum: ['', 'cache_statement', 'cache_describe', 'describe_exec', 'exec', 'simple_protocol'] },
      }),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    address = m.connectionString || m.url || '';
    if (address === '') throw { tag: 'invalid-metadata', val: 'connectionString: missing connection string' };
    const timeout = prop(m, 'timeout', 'timeoutInSeconds');
    if (timeout !== undefined && timeout !== '') {
      const ms = /^\d+$/.test(timeout) ? Number(timeout) * 1000 : parseGoDuration(timeout);
      if (ms === undefined || ms < 1000) throw { tag: 'invalid-metadata', val: "timeout: invalid value for 'timeout': must be greater than 1s" };
    }
    try {
      connection().query({ sql: 'SELECT 1', params: [], expect: undefined });
    } catch (err) {
      const e = bindingFromHost(err);
      release();
      throw { tag: e.tag === 'unavailable' ? 'unavailable' : 'other', val: `connectionString: failed to ping the DB: ${e.val}` };
    }
  },
  ping() {
    try {
      connection().query({ sql: 'SELECT 1', params: [], expect: undefined });
    } catch (err) {
      throw bindingFromHost(err).val;
    }
  },
};

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    if (!OPERATIONS.includes(r.operation)) unsupported(r, OPERATIONS);
    if (r.operation === 'close') {
      release();
      return undefined;
    }
    const md = toMap(r.metadata);
    const sql = md.sql ?? '';
    if (sql === '') throw bindingError('invalid-argument', 'sql: required metadata not set: sql');
    const args = params(md.params);
    const start = Number(nowMs());
    const t0 = monotonicMs();
    let rs: RowSet;
    try {
      rs = connection().query({ sql, params: args, expect: undefined });
    } catch (err) {
      const e = bindingFromHost(err, 'error executing query');
      if (e.tag === 'unavailable') release();
      throw e;
    }
    const elapsedNs = (monotonicMs() - t0) * 1e6;
    const meta: Pairs = [
      ['operation', r.operation],
      ['sql', sql],
      ['start-time', rfc3339Nano(start)],
    ];
    let data = '';
    if (r.operation === 'exec') meta.push(['rows-affected', String(Number(rs.affected))]);
    else data = JSON.stringify(rs.rows.map((row) => row.map(jsonValue)));
    meta.push(['end-time', rfc3339Nano(start + elapsedNs / 1e6)], ['duration', formatGoDuration(elapsedNs)]);
    return response(data, meta);
  },
};
