import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity } from '../../host/src/config.js';
import { parseRunArgs } from '../../host/src/main.js';
import { parseResources } from '../../host/src/components/resources.js';
import { grantsFromSchema, normalise } from '../../host/src/capabilities/grants.js';
import { keyPrefix, storedKey, originalKey } from '../../host/src/blocks/state/keys.js';

it('sizes: Kubernetes quantities and plain bytes', () => {
  assert.equal(parseQuantity('4Mi'), 4 * 1024 * 1024);
  assert.equal(parseQuantity('10M'), 10_000_000);
  assert.equal(parseQuantity('512Ki'), 512 * 1024);
  assert.equal(parseQuantity('1048576'), 1048576);
  assert.throws(() => parseQuantity('lots'), /not a size/);
});

it('run flags: daprd names, repeatable resources path, -- command', () => {
  const { config, command } = parseRunArgs(['--app-id', 'a', '--resources-path', 'x', '--components-path', 'y', '--dapr-http-max-request-size', '8', '--', 'node', 'app.js'], {});
  assert.equal(config.appId, 'a');
  assert.equal(config.resourcePaths.length, 2);
  assert.equal(config.maxBodyBytes, 8 * 1024 * 1024);
  assert.deepEqual(command, ['node', 'app.js']);
  assert.equal(parseRunArgs([], { DAPR_API_TOKEN: 't' }).config.apiToken, 't');
  assert.throws(() => parseRunArgs(['--log-level', 'loud'], {}), /--log-level/);
});

it('resources: Component YAML with metadata values as strings; problems name the field', () => {
  const ok = parseResources('c.yaml', `apiVersion: dapr.io/v1alpha1
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
`);
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
    ['apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec:\n  type: state.redis\n  metadata: [{name: p, secretKeyRef: {name: s, key: k}}]', 'spec.metadata[0].secretKeyRef'],
    ['a: [1', '(yaml)'],
  ];
  for (const [text, field] of cases) {
    const r = parseResources('bad.yaml', text);
    assert.equal(r.problems[0]?.field, field, text);
  }
  assert.deepEqual(parseResources('e.yaml', 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: x}\nspec: {type: state.in-memory, metadata: null}').problems, []);
});

it('grants: only annotated properties, Redis addresses normalised', () => {
  const schema = { properties: { redisHost: { type: 'string', 'x-mortar-grant': 'redis' }, other: { type: 'string' } } };
  const g = grantsFromSchema(schema, { redisHost: 'redis://cache.local', other: '10.0.0.1:6379' });
  assert.ok(g.allows('redis', 'cache.local:6379'));
  assert.ok(!g.allows('redis', '10.0.0.1:6379'));
  assert.ok(!g.allows('sql:postgres', 'cache.local'));
  assert.equal(normalise('redis', 'user:pw@Host:6380/0'), 'host:6380');
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
