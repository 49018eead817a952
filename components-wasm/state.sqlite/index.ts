// world: listing-state-store-component
/**
 * state.sqlite: a durable state store in an SQLite file under the sidecar's data directory.
 * Needs no server: it is mortar's embedded default `statestore`. Instances share the file through the host.
 */
import { SqlStateStore, keyListingExport, stateStoreExports } from '../lib/sql-store.js';
import { schema, toMap, type Pairs } from '../lib/guest.js';

const store = new SqlStateStore('sqlite');

export const lifecycle = {
  describe() {
    return {
      // Every name Dapr registers it under (dapr/dapr cmd/daprd/components/state_sqlite.go).
      types: ['state.sqlite', 'state.sqlite3'],
      version: '1.0.0',
      features: ['ETAG', 'TRANSACTIONAL', 'TTL', 'FIRST_WRITE'],
      metadataSchema: schema({
        connectionString: {
          type: 'string',
          default: 'state.db',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
          'x-mortar-grant': 'sql:sqlite',
          description: 'Database file name, created under the sidecar data directory (--data-dir).',
        },
        tableName: { type: 'string', default: 'state', description: 'Table holding the state.' },
        timeout: { type: 'string', description: 'Accepted for Dapr compatibility; the host applies its own timeouts.' },
      }),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    store.init({ dialect: 'sqlite', address: m.connectionString ?? 'state.db', table: m.tableName ?? 'state' });
  },
  ping() {
    store.ping();
  },
};

export const stateStore = stateStoreExports(store);
export const keyListing = keyListingExport(store);
