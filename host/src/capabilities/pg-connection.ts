/**
 * PostgreSQL connection strings in both forms Dapr documents for its postgres components (which hand them
 * to pgx): a URL, `postgres://user:password@host:5432/db?sslmode=disable`, and libpq's keyword/value form,
 * `host=localhost user=postgres password=secret port=5432 connect_timeout=10 database=test`.
 *
 * node-postgres understands only the URL form: it reads a keyword/value string as a URL relative to
 * `postgres://base` and tries to reach a host named `base`. So the keyword/value form is parsed here into
 * node-postgres options, with pgx's meaning for each keyword.
 */
import type pg from 'pg';

/** Keywords mortar applies. Any other keyword is refused by name rather than silently ignored. */
const KEYWORDS = new Set([
  'host',
  'hostaddr',
  'port',
  'user',
  'password',
  'dbname',
  'database',
  'connect_timeout',
  'sslmode',
  'application_name',
  'options',
  'search_path',
  'pool_max_conns',
]);

/** pgxpool keywords that tune pgx's pool; node-postgres's pool has its own rules, so they are accepted and have no effect. */
const POOL_ONLY = new Set(['pool_min_conns', 'pool_max_conn_lifetime', 'pool_max_conn_idle_time', 'pool_health_check_period', 'pool_max_conn_lifetime_jitter']);

/**
 * node-postgres options for a connection string in either form: a URL (or a socket path) is left to
 * node-postgres; anything else is libpq's keyword/value form. Throws, naming the problem, when it is malformed.
 */
export function postgresConfig(address: string): pg.PoolConfig {
  const s = address.trim();
  if (/^postgres(ql)?:\/\//i.test(s) || s.startsWith('/')) return { connectionString: s };
  return keywordValueConfig(s);
}

/**
 * Splits libpq's keyword/value form: `key = value` pairs separated by whitespace; a value may be
 * single-quoted, and `\'` and `\\` escape a quote or backslash (quoted or not). Throws on a malformed string.
 */
export function parseKeywordValue(s: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  for (ws(); i < s.length; ws()) {
    const start = i;
    while (i < s.length && /[A-Za-z0-9_]/.test(s[i]!)) i++;
    const key = s.slice(start, i);
    ws();
    if (key === '' || s[i] !== '=') throw new Error(`expected 'keyword=value' at offset ${start}`);
    i++;
    ws();
    let value = '';
    if (s[i] === "'") {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error(`unterminated quoted value for '${key}'`);
        const c = s[i++]!;
        if (c === "'") break;
        value += c === '\\' && i < s.length ? s[i++]! : c;
      }
    } else {
      while (i < s.length && !/\s/.test(s[i]!)) {
        const c = s[i++]!;
        value += c === '\\' && i < s.length ? s[i++]! : c;
      }
    }
    out.set(key, value);
  }
  return out;
}

/** The node-postgres pool options for a keyword/value connection string (see the module comment). */
export function keywordValueConfig(s: string): pg.PoolConfig {
  const kv = parseKeywordValue(s);
  const config: pg.PoolConfig = {};
  const options: string[] = [];
  const int = (key: string, v: string): number => {
    if (!/^\d+$/.test(v)) throw new Error(`'${key}' must be a non-negative integer, got '${v}'`);
    return Number(v);
  };
  for (const [key, v] of kv) {
    if (POOL_ONLY.has(key)) continue;
    if (!KEYWORDS.has(key)) throw new Error(`keyword '${key}' is not supported (supported: ${[...KEYWORDS].join(', ')})`);
    switch (key) {
      case 'host':
      case 'hostaddr':
        config.host = v;
        break;
      case 'port':
        config.port = int(key, v);
        break;
      case 'user':
        config.user = v;
        break;
      case 'password':
        config.password = v;
        break;
      case 'dbname':
      case 'database':
        config.database = v;
        break;
      // Seconds, 0 meaning wait forever (libpq); node-postgres counts milliseconds, 0 likewise.
      case 'connect_timeout':
        config.connectionTimeoutMillis = int(key, v) * 1000;
        break;
      case 'sslmode':
        config.ssl = sslFor(v);
        break;
      case 'application_name':
        config.application_name = v;
        break;
      case 'options':
        options.push(v);
        break;
      // pgx sends any runtime parameter it does not know at startup; search_path is the one Dapr users set.
      case 'search_path':
        options.push(`-c search_path=${v.replace(/([\\ ])/g, '\\$1')}`);
        break;
      case 'pool_max_conns':
        config.max = Math.max(1, int(key, v));
        break;
    }
  }
  if (options.length > 0) config.options = options.join(' ');
  return config;
}

/**
 * `sslmode` as node-postgres reads it in a URL, so both forms mean the same: `disable` and `allow` (plain
 * first) connect without TLS; `prefer`, `require`, `verify-ca` and `verify-full` use TLS and check the
 * server's certificate. (libpq's `prefer` would fall back to plain TCP; node-postgres cannot.)
 */
function sslFor(mode: string): pg.PoolConfig['ssl'] {
  switch (mode) {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
    case 'require':
    case 'verify-ca':
    case 'verify-full':
      return {};
    default:
      throw new Error(`'sslmode' must be disable, allow, prefer, require, verify-ca or verify-full, got '${mode}'`);
  }
}
