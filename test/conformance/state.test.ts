/**
 * Runs the state conformance suite against every state component, through one real sidecar process,
 * with real Redis and PostgreSQL.
 */
import { after, before, describe } from 'node:test';
import { randomUUID } from 'node:crypto';
import { PG_URL, REDIS_HOST, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';
import { stateConformance, type StoreUnderTest } from './state-suite.js';

const FULL = ['ETAG', 'TRANSACTIONAL', 'TTL'];
const stores: StoreUnderTest[] = [
  { name: 'mem', type: 'state.in-memory', features: FULL },
  { name: 'lite', type: 'state.sqlite', features: FULL },
  { name: 'redis', type: 'state.redis', features: FULL },
  { name: 'pg', type: 'state.postgresql', features: FULL },
];

let sidecar: Sidecar;

describe('state conformance', () => {
  before(async () => {
    const dir = tempDir('conformance');
    writeComponent(dir, 'mem.yaml', 'mem', 'state.in-memory');
    writeComponent(dir, 'lite.yaml', 'lite', 'state.sqlite', { connectionString: 'conformance.db' });
    writeComponent(dir, 'redis.yaml', 'redis', 'state.redis', { redisHost: REDIS_HOST });
    writeComponent(dir, 'pg.yaml', 'pg', 'state.postgresql', { connectionString: PG_URL, tableName: `conformance_${randomUUID().slice(0, 8)}` });
    sidecar = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sidecar?.stop();
  });

  for (const s of stores) stateConformance(() => sidecar, s);
});
