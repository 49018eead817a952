/**
 * libpq's keyword/value connection strings become node-postgres options with the meaning pgx gives them.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeywordValue, postgresConfig } from '../../host/src/capabilities/pg-connection.js';

it("Dapr's documented keyword/value string maps to host, user, password, port, database and a connect timeout", () => {
  assert.deepEqual(postgresConfig('host=localhost user=postgres password=example port=5432 connect_timeout=10 database=my_db'), {
    host: 'localhost',
    user: 'postgres',
    password: 'example',
    port: 5432,
    connectionTimeoutMillis: 10_000,
    database: 'my_db',
  });
});

it('quoted values, escapes and spaces around = are read as libpq reads them', () => {
  assert.deepEqual(Object.fromEntries(parseKeywordValue(`password = 'it\\'s a \\\\secret' dbname=a\\ b  user='' `)), {
    password: "it's a \\secret",
    dbname: 'a b',
    user: '',
  });
});

it('a URL or socket path is left to node-postgres; sslmode and search_path are applied', () => {
  assert.deepEqual(postgresConfig(' postgres://u@h:1/d '), { connectionString: 'postgres://u@h:1/d' });
  assert.deepEqual(postgresConfig('host=h sslmode=disable search_path=app'), { host: 'h', ssl: false, options: '-c search_path=app' });
  assert.deepEqual(postgresConfig('host=h sslmode=require pool_max_conns=4 pool_min_conns=1'), { host: 'h', ssl: {}, max: 4 });
});

it('a malformed string or an unknown keyword is refused by name', () => {
  assert.throws(() => postgresConfig('host=h bogus=1'), /keyword 'bogus' is not supported/);
  assert.throws(() => postgresConfig("host='h"), /unterminated quoted value for 'host'/);
  assert.throws(() => postgresConfig('localhost'), /expected 'keyword=value' at offset 0/);
  assert.throws(() => postgresConfig('port=abc'), /'port' must be a non-negative integer/);
});
