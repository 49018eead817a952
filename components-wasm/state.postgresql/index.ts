/**
 * state.postgresql: state in a PostgreSQL table (Dapr's `state.postgresql` metadata names).
 */
import { SqlStateStore, stateStoreExports } from '../lib/sql-store.js';
import { schema, toMap, type Pairs } from '../lib/guest.js';

const store = new SqlStateStore('postgres');

export const lifecycle = {
  describe() {
    return {
      types: ['state.postgresql', 'state.postgres'],
      version: '1.0.0',
      features: ['ETAG', 'TRANSACTIONAL', 'TTL', 'FIRST_WRITE'],
      metadataSchema: schema({
        connectionString: {
          type: 'string', minLength: 1, 'x-mortar-grant': 'sql:postgres', 'x-sensitive': true,
          description: 'libpq connection string or URL, e.g. postgres://user@127.0.0.1:5432/db',
        },
        tableName: { type: 'string', default: 'state', description: 'Table holding the state; created if missing.' },
        timeout: { type: 'string' },
        cleanupInterval: { type: 'string' },
        metadataTableName: { type: 'string' },
      }, ['connectionString']),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    store.init({ dialect: 'postgres', address: m.connectionString!, table: m.tableName ?? 'state' });
  },
  ping() { store.ping(); },
};

export const stateStore = stateStoreExports(store);
