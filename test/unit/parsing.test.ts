import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity } from '../../host/src/config.js';
import { parseRunArgs } from '../../host/src/main.js';
import { parseResources } from '../../host/src/resources/resources.js';
import { grantsFromSchema, normalise } from '../../host/src/capabilities/grants.js';
import { Inbox } from '../../host/src/capabilities/inbox.js';
import { keyPrefix, storedKey, originalKey } from '../../host/src/blocks/state/keys.js';

it('sizes: Kubernetes quantities and plain bytes', () => {
  assert.equal(parseQuantity('4Mi'), 4 * 1024 * 1024);
  assert.equal(parseQuantity('10M'), 10_000_000);
  assert.equal(parseQuantity('512Ki'), 512 * 1024);
  assert.equal(parseQuantity('1048576'), 1048576);
  assert.throws(() => parseQuantity('lots'), /not a size/);
});

it('run flags: daprd names, repeatable resources path, -- command', () => {
  const { config, command } = parseRunArgs(
    ['--app-id', 'a', '--resources-path', 'x', '--components-path', 'y', '--dapr-http-max-request-size', '8', '--', 'node', 'app.js'],
    {},
  );
  assert.equal(config.appId, 'a');
  assert.equal(config.resourcePaths.length, 2);
  assert.equal(config.maxBodyBytes, 8 * 1024 * 1024);
  assert.deepEqual(command, ['node', 'app.js']);
  assert.equal(parseRunArgs([], { DAPR_API_TOKEN: 't' }).config.apiToken, 't');
  assert.throws(() => parseRunArgs(['--log-level', 'loud'], {}), /--log-level/);
});

it('resources: Component YAML with metadata values as strings; problems name the field', () => {
  const ok = parseResources(
    'c.yaml',
    `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: s }
spec:
  type: state.redis
  metadata:
    - name: redisDB
      value: 3
    - name: enableTLS
      value: false
scopes: [a, b]
`,
  );
  assert.deepEqual(ok.problems, []);
  const c = ok.resources[0] as unknown as { metadata: Record<string, string>; version: string; scopes: string[] };
  assert.deepEqual(c.metadata, { redisDB: '3', enableTLS: 'false' });
  assert.equal(c.version, 'v1');
  assert.deepEqual(c.scopes, ['a', 'b']);
  const cases: Array<[string, string]> = [
    ['kind: Component\nmetadata: {name: x}\nspec: {type: state.redis}', 'apiVersion'],
    ['apiVersion: dapr.io/v1alpha1\nkind: Thing\nmetadata: {name: x}', 'kind'],
    ['apiVersion: dapr.io/v1alpha1\nkind: Component\nspec: {type: state.redis}', 'metadata.name'],
    ['apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: redis}', 'spec.type'],
    ['apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: state.redis, metadata: [{value: 1}]}', 'spec.metadata[0].name'],
    [
      'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec:\n  type: state.redis\n  metadata: [{name: p, secretKeyRef: {name: s, key: k}}]',
      'spec.metadata[0].secretKeyRef',
    ],
    ['a: [1', '(yaml)'],
  ];
  for (const [text, field] of cases) {
    const r = parseResources('bad.yaml', text);
    assert.equal(r.problems[0]?.field, field, text);
  }
  assert.deepEqual(
    parseResources('e.yaml', 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: state.in-memory, metadata: null}').problems,
    [],
  );
});

it('grants: only annotated properties, Redis addresses normalised', () => {
  const schema = { properties: { redisHost: { type: 'string', 'x-mortar-grant': 'redis' }, other: { type: 'string' } } };
  const g = grantsFromSchema(schema, { redisHost: 'redis://cache.local', other: '10.0.0.1:6379' });
  assert.ok(g.allows('redis', 'cache.local:6379'));
  assert.ok(!g.allows('redis', '10.0.0.1:6379'));
  assert.ok(!g.allows('sql:postgres', 'cache.local'));
  assert.equal(normalise('redis', 'user:pw@Host:6380/0'), 'host:6380');
});

it("grants: broker URLs compare by host and port, with each scheme's default port", () => {
  const schema = {
    properties: {
      connectionString: { type: 'string', 'x-mortar-grant': 'amqp' },
      url: { type: 'string', 'x-mortar-grant': 'mqtt' },
      natsURL: { type: 'string', 'x-mortar-grant': 'nats' },
    },
  };
  const g = grantsFromSchema(schema, {
    connectionString: 'amqp://guest:secret@Rabbit.local/vhost',
    url: 'ssl://broker',
    natsURL: 'nats://n1:4222, nats://n2:4333',
  });
  assert.ok(g.allows('amqp', 'amqp://other:creds@rabbit.local:5672/'));
  assert.ok(!g.allows('amqp', 'amqps://rabbit.local'), 'amqps defaults to 5671, another endpoint');
  assert.ok(g.allows('mqtt', 'mqtts://broker:8883'));
  assert.ok(!g.allows('mqtt', 'tcp://broker'));
  assert.ok(g.allows('nats', 'nats://n1') && g.allows('nats', 'n2:4333'), 'each server of a cluster list');
  assert.ok(!g.allows('nats', 'nats://n3:4222'));
  assert.ok(!g.allows('redis', 'rabbit.local:5672'), 'a grant is for its own capability only');
});

it('inbox: take waits for the first item up to its limit, keeps order, and gives back what a stopped consumer held', async () => {
  const inbox = new Inbox<number>();
  const t0 = performance.now();
  assert.deepEqual(await inbox.take(10, 30), []);
  assert.ok(performance.now() - t0 >= 25, 'an empty inbox waits');
  setTimeout(() => inbox.push(1), 10);
  assert.deepEqual(await inbox.take(10, 5000), [1], 'a push wakes the waiting take');
  for (let i = 2; i <= 6; i++) inbox.push(i);
  assert.deepEqual(await inbox.take(2, 0), [2, 3]);
  assert.deepEqual(
    inbox.remove((n) => n % 2 === 0),
    [4, 6],
  );
  assert.deepEqual(await inbox.take(10, 0), [5]);
  inbox.fail(new Error('gone'));
  await assert.rejects(inbox.take(1, 1000), /gone/);
  inbox.clear();
  assert.deepEqual(await inbox.take(1, 0), []);
});

it('state keys: prefixes, the || rule, and the original key', () => {
  assert.equal(keyPrefix(undefined, 'app', 'store'), 'app');
  assert.equal(keyPrefix('name', 'app', 'store'), 'store');
  assert.equal(keyPrefix('none', 'app', 'store'), '');
  assert.equal(keyPrefix('namespace', 'app', 'store', 'ns'), 'ns.app');
  assert.equal(keyPrefix('custom', 'app', 'store'), 'custom');
  assert.equal(storedKey('app', 'k', 's'), 'app||k');
  assert.equal(storedKey('', 'k', 's'), 'k');
  assert.throws(() => storedKey('app', 'a||b', 's'), /can't contain/);
  assert.equal(originalKey('app||k||x'), 'k||x');
});
