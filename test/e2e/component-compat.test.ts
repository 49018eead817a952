/**
 * Component YAML written for Dapr works unchanged: every type name Dapr registers for a built-in is accepted,
 * a mistyped type is refused naming the closest known one, and `state.postgresql` takes the libpq
 * keyword/value connection string Dapr documents as well as a URL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { MQTT_URL, PG_URL, Sidecar, tempDir, writeComponent } from '../helpers/sidecar.js';

let sc: Sidecar;
const table = `compat_${randomUUID().slice(0, 8)}`;

/** PG_URL in libpq's keyword/value form, as Dapr's docs write it (password ignored: the test server trusts). */
function keywordValue(url: string): string {
  const u = new URL(url);
  return `host=${u.hostname} user=${decodeURIComponent(u.username) || 'postgres'} password=unused port=${u.port || 5432} connect_timeout=10 database=${u.pathname.slice(1) || 'postgres'}`;
}

describe('Dapr component YAML compatibility', () => {
  before(async () => {
    const dir = tempDir('compat');
    writeComponent(dir, 'mqtt.yaml', 'mqtt', 'pubsub.mqtt', { url: MQTT_URL, consumerID: `compat-${randomUUID().slice(0, 8)}` });
    writeComponent(dir, 'sqlite3.yaml', 'lite3', 'state.sqlite3', { connectionString: 'compat.db' });
    writeComponent(dir, 'pg-kv.yaml', 'pgkv', 'state.postgresql', { connectionString: keywordValue(PG_URL), tableName: table });
    writeComponent(dir, 'yugabyte.yaml', 'yb', 'state.yugabytedb', { connectionString: PG_URL, tableName: `${table}_yb` });
    writeComponent(dir, 'typo.yaml', 'typo', 'state.postgre', { connectionString: PG_URL });
    sc = await Sidecar.start({ resourcesPath: dir });
  });
  after(async () => {
    await sc?.stop();
  });

  it('every alias Dapr registers for a built-in is served (pubsub.mqtt, state.sqlite3, state.yugabytedb)', async () => {
    const md = (await sc.json('GET', '/v1.0/metadata')).body as { components: Array<{ name: string; type: string }> };
    const types = Object.fromEntries(md.components.map((c) => [c.name, c.type]));
    assert.equal(types.mqtt, 'pubsub.mqtt');
    assert.equal(types.lite3, 'state.sqlite3');
    assert.equal(types.yb, 'state.yugabytedb');
    assert.equal((await sc.json('POST', '/v1.0/publish/mqtt/compat', { hello: 1 })).status, 204);
    assert.equal((await sc.json('POST', '/v1.0/state/lite3', [{ key: 'k', value: 'v' }])).status, 204);
    assert.equal((await sc.json('GET', '/v1.0/state/lite3/k')).text, '"v"');
  });

  it('an unknown type is refused naming the closest known type', async () => {
    const line = await sc.waitForLog((l) => l.includes('typo.yaml') && l.includes("spec.type 'state.postgre' is not served"), 2000);
    assert.match(line, /closest: 'state\.postgres'/);
    assert.match(line, /known: .*state\.redis/);
  });

  it('state.postgresql takes the keyword/value connection string (host=... user=... port=... database=...)', async () => {
    assert.ok(!sc.logs.some((l) => l.includes('pg-kv.yaml') && l.includes('refused')), 'the keyword/value form is not refused');
    assert.equal((await sc.json('POST', '/v1.0/state/pgkv', [{ key: 'kv', value: { form: 'keyword/value' } }])).status, 204);
    assert.deepEqual((await sc.json('GET', '/v1.0/state/pgkv/kv')).body, { form: 'keyword/value' });
    // The row is in the database the string names.
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      assert.equal((await client.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, 1);
    } finally {
      await client.end();
    }
  });
});
