// world: listing-state-store-component
/**
 * state.postgresql: state in a PostgreSQL table (Dapr's `state.postgresql` metadata names).
 */
import { SqlStateStore, keyListingExport, stateStoreExports } from '../lib/sql-store.js';
import { schema, toMap, type Pairs } from '../lib/guest.js';

const store = new SqlStateStore('postgres');

export const lifecycle = {
  describe() {
    return {
      // Every name Dapr registers its PostgreSQL store under (dapr/dapr cmd/daprd/components/state_postgres.go):
      // YugabyteDB speaks the PostgreSQL protocol and Dapr serves it with the same store.
      types: ['state.postgresql', 'state.postgres', 'state.yugabytedb', 'state.yugabyte'],
      version: '1.0.0',
      features: ['ETAG', 'TRANSACTIONAL', 'TTL', 'FIRST_WRITE'],
      metadataSchema: schema(
        {
          connectionString: {
            type: 'string',
            minLength: 1,
            'x-mortar-grant': 'sql:postgres',
            'x-sensitive': true,
            description: 'libpq connection string or URL, e.g. postgres://user@127.0.0.1:5432/db',
          },
          tableName: { type: 'string', default: 'state', description: 'Table holding the state; created if missing.' },
          timeout: { type: 'string' },
          cleanupInterval: { type: 'string' },
          metadataTableName: { type: 'string' },
        },
        ['connectionString'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    store.init({ dialect: 'postgres', address: m.connectionString!, table: m.tableName ?? 'state' });
  },
  ping() {
    store.ping();
  },
};

export const stateStore = stateStoreExports(store);
export const keyListing = keyListingExport(store);
