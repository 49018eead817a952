/**
 * Variables and the runtime-config file of `mortar up`: values from `--variable`, the runtime config's
 * providers, `SPIN_VARIABLE_<NAME>` and `.env`, then defaults; required variables; secrets; key-value labels
 * mapped to Dapr state stores; and the whole plan built from a manifest.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpinManifest } from '../../host/src/workloads/spin-manifest.js';
import { EMPTY_RUNTIME_CONFIG, parseRuntimeConfig, stateStoreForLabel } from '../../host/src/workloads/spin-runtime-config.js';
import { parseVariableArg, resolveAppVariables, resolveComponentVariables, type VariableSources } from '../../host/src/workloads/spin-variables.js';
import { parseTemplate } from '../../host/src/workloads/spin-template.js';
import { planWorkload } from '../../host/src/workloads/spin-workload.js';
import { tempDir } from '../helpers/sidecar.js';

const MANIFEST = `spin_manifest_version = 2
[application]
name = "shop"
[variables]
api_host = { default = "api.example.com" }
api_key = { required = true, secret = true }
mode = { default = "dev" }
[[trigger.http]]
route = "/cart/..."
component = "cart"
[[trigger.http]]
route = "/health"
static_response = { body = "ok" }
[component.cart]
source = "cart.wasm"
variables = { endpoint = "https://{{ api_host }}/v1", auth = "Bearer {{ api_key }}", mode = "{{ mode }}" }
environment = { LOG = "info" }
allowed_outbound_hosts = ["https://{{ api_host }}"]
key_value_stores = ["default", "sessions", "cache"]
`;
const app = () => parseSpinManifest(MANIFEST, '/apps/shop/spin.toml', false);
const sources = (over: Partial<VariableSources> = {}): VariableSources => ({ cli: {}, providers: [], env: {}, cwd: tempDir('vars'), ...over });

describe('Spin variables', () => {
  it('defaults apply; SPIN_VARIABLE_<NAME> overrides them; --variable overrides both', () => {
    const vars = app().variables;
    const v1 = resolveAppVariables(vars, sources({ env: { SPIN_VARIABLE_API_KEY: 'k1' } }));
    assert.deepEqual(Object.fromEntries(v1), {
      api_host: { value: 'api.example.com', secret: false },
      api_key: { value: 'k1', secret: true },
      mode: { value: 'dev', secret: false },
    });
    const v2 = resolveAppVariables(vars, sources({ env: { SPIN_VARIABLE_API_KEY: 'k1', SPIN_VARIABLE_MODE: 'prod' }, cli: { mode: 'test' } }));
    assert.equal(v2.get('mode')!.value, 'test');
    assert.equal(
      resolveAppVariables(vars, sources({ env: { SPIN_VARIABLE_API_KEY: '', spin_variable_mode: 'x' } })).get('mode')!.value,
      'dev',
      'the name is upper-cased, and an empty value is a value',
    );
  });

  it('a required variable without a value is an error naming it and how to set it', () => {
    assert.throws(() => resolveAppVariables(app().variables, sources()), {
      message: 'variables.api_key: required variable has no value (set SPIN_VARIABLE_API_KEY, or pass --variable api_key=<value>)',
    });
  });

  it('reads ./.env after the environment, and the runtime config`s providers before it', () => {
    const cwd = tempDir('dotenv');
    writeFileSync(join(cwd, '.env'), 'SPIN_VARIABLE_API_KEY=from-dotenv\nSPIN_VARIABLE_MODE=dotenv-mode\n');
    const vars = app().variables;
    assert.equal(resolveAppVariables(vars, sources({ cwd })).get('api_key')!.value, 'from-dotenv');
    assert.equal(resolveAppVariables(vars, sources({ cwd, env: { SPIN_VARIABLE_API_KEY: 'env' } })).get('api_key')!.value, 'env');
    const providers = parseRuntimeConfig(
      '[[variables_provider]]\ntype = "static"\nvalues = { mode = "static-mode" }\n[[variables_provider]]\ntype = "env"\nprefix = "SHOP"\n',
      'rc.toml',
    ).variableProviders;
    const v = resolveAppVariables(vars, sources({ cwd, providers, env: { SHOP_API_KEY: 'shop-key' } }));
    assert.equal(v.get('mode')!.value, 'static-mode');
    assert.equal(v.get('api_key')!.value, 'shop-key');
  });

  it('component variables are templates over the application`s; one using a secret is secret', () => {
    const a = app();
    const values = resolveAppVariables(a.variables, sources({ env: { SPIN_VARIABLE_API_KEY: 'k1' } }));
    assert.deepEqual(Object.fromEntries(resolveComponentVariables(a.components.get('cart')!, values)), {
      endpoint: { value: 'https://api.example.com/v1', secret: false },
      auth: { value: 'Bearer k1', secret: true },
      mode: { value: 'dev', secret: false },
    });
  });

  it('--variable takes key=value, key=@file and @file.json / @file.toml, with Spin`s errors', () => {
    const cwd = tempDir('varfiles');
    writeFileSync(join(cwd, 'key.txt'), 'file-key');
    writeFileSync(join(cwd, 'v.json'), '{"a":"1","b":"2"}');
    writeFileSync(join(cwd, 'v.toml'), 'c = "3"');
    assert.deepEqual(parseVariableArg('k=v=w', cwd), { k: 'v=w' });
    assert.deepEqual(parseVariableArg('api_key=@key.txt', cwd), { api_key: 'file-key' });
    assert.deepEqual(parseVariableArg('@v.json', cwd), { a: '1', b: '2' });
    assert.deepEqual(parseVariableArg('@v.toml', cwd), { c: '3' });
    assert.throws(() => parseVariableArg('novalue', cwd), /variables must be in the form 'key=value' or '@file'/);
    assert.throws(() => parseVariableArg('@v.yaml', cwd), /variable files must end in \.json or \.toml/);
    assert.throws(() => parseVariableArg('k=@missing.txt', cwd), /Failed to read ".*missing\.txt"/);
  });

  it('templates follow Spin`s syntax: trimmed expressions, no escape, an unmatched {{ is an error', () => {
    assert.deepEqual(parseTemplate('a-{{ expr }}-b').parts, [{ lit: 'a-' }, { expr: 'expr' }, { lit: '-b' }]);
    assert.deepEqual(parseTemplate('{{ e1 }}{{e2}}').parts, [{ expr: 'e1' }, { expr: 'e2' }]);
    assert.deepEqual(parseTemplate('').parts, []);
    assert.throws(() => parseTemplate('{{ matched }} {{ unmatched'), /unmatched '\{\{' in template/);
  });
});

describe('runtime config', () => {
  it('maps labels to Dapr state stores: type mortar as written, default to statestore, others by their own name', () => {
    const rc = parseRuntimeConfig('[key_value_store.sessions]\ntype = "mortar"\ncomponent = "redis-sessions"\n', 'rc.toml');
    assert.equal(stateStoreForLabel('sessions', rc), 'redis-sessions');
    assert.equal(stateStoreForLabel('default', rc), 'statestore');
    assert.equal(stateStoreForLabel('cache', rc), 'cache');
    const over = parseRuntimeConfig('[key_value_store.default]\ntype = "mortar"\ncomponent = "pg"\n', 'rc.toml');
    assert.equal(stateStoreForLabel('default', over), 'pg');
    assert.equal(stateStoreForLabel('default', EMPTY_RUNTIME_CONFIG), 'statestore');
  });

  it('refuses Spin`s own store types with the way to say it in mortar, and unknown types and keys by name', () => {
    assert.throws(
      () => parseRuntimeConfig('[key_value_store.x]\ntype = "redis"\nurl = "redis://h"\n', 'rc.toml'),
      /rc\.toml: key_value_store\.x\.type: "redis" is not supported by mortar: declare a Dapr state store component/,
    );
    assert.throws(
      () => parseRuntimeConfig('[key_value_store.x]\ntype = "spin"\npath = "x.db"\n', 'rc.toml'),
      /"spin" \(a local SQLite file\) is not supported/,
    );
    assert.throws(
      () => parseRuntimeConfig('[key_value_store.x]\ntype = "azure_cosmos"\n', 'rc.toml'),
      /key_value_store\.x\.type: "azure_cosmos" is not supported/,
    );
    assert.throws(
      () => parseRuntimeConfig('[key_value_store.x]\ntype = "etcd"\n', 'rc.toml'),
      /the store type 'etcd' was not registered with the config resolver/,
    );
    assert.throws(
      () => parseRuntimeConfig('[key_value_store.x]\ntype = "mortar"\n', 'rc.toml'),
      /key_value_store\.x\.component: the name of a Dapr state store is required/,
    );
    assert.throws(
      () => parseRuntimeConfig('[key_value_store.x]\ntype = "mortar"\ncomponent = "s"\nttl = 5\n', 'rc.toml'),
      /key_value_store\.x\.ttl: unknown field/,
    );
    assert.throws(() => parseRuntimeConfig('[key_value_store.x]\ncomponent = "s"\n', 'rc.toml'), /key_value_store\.x: missing field `type`/);
    assert.throws(() => parseRuntimeConfig('baz = "/baz"\n', 'rc.toml'), /rc\.toml: unused runtime config key\(s\): baz/);
    assert.throws(
      () => parseRuntimeConfig('[sqlite_database.default]\ntype = "spin"\n', 'rc.toml'),
      /rc\.toml: sqlite_database: SQLite databases are not supported/,
    );
    assert.throws(
      () => parseRuntimeConfig('[[variables_provider]]\ntype = "vault"\nurl = "x"\n', 'rc.toml'),
      /variables_provider\[0\]\.type: the "vault" variables provider is not supported/,
    );
    assert.throws(() => parseRuntimeConfig('[key_value_store.x\n', 'rc.toml'), /rc\.toml: TOML parse error at line 1/);
  });
});

describe('workload plan', () => {
  it('resolves variables, outbound hosts and store labels per component, and builds the router', () => {
    const rc = parseRuntimeConfig('[key_value_store.sessions]\ntype = "mortar"\ncomponent = "redis-sessions"\n', 'rc.toml');
    const plan = planWorkload(app(), {
      runtimeConfig: rc,
      variables: sources({ env: { SPIN_VARIABLE_API_KEY: 'k1' } }),
      env: [
        ['LOG', 'debug'],
        ['EXTRA', '1'],
      ],
    });
    assert.equal(plan.appId, 'shop');
    const cart = plan.components.get('cart')!;
    assert.equal(cart.wasmPath, '/apps/shop/cart.wasm');
    assert.deepEqual(cart.environment, { LOG: 'debug', EXTRA: '1' }, '-e overrides the manifest`s environment');
    assert.deepEqual(Object.fromEntries(cart.keyValueStores), { default: 'statestore', sessions: 'redis-sessions', cache: 'cache' });
    assert.ok(cart.allowedHosts.allows('https://api.example.com/v1/items', 'https'));
    assert.ok(!cart.allowedHosts.allows('https://evil.example.com/', 'https'));
    assert.deepEqual(plan.secretValues, ['k1', 'Bearer k1']);
    const m = plan.router.route('/cart/items/1')!;
    assert.deepEqual(m.target, { component: 'cart' });
    assert.equal(m.pathInfo, '/items/1');
    assert.deepEqual(plan.router.route('/health')!.target, { trigger: 'http-trigger1' });
    assert.equal(plan.staticResponses.get('http-trigger1')!.body, 'ok');
  });

  it('reports duplicate routes (the last trigger wins, as Spin) and routes under /.well-known/spin/ as start warnings', () => {
    const dup = `${MANIFEST}[[trigger.http]]\nroute = "/cart/..."\ncomponent = { source = "other.wasm" }\n[[trigger.http]]\nroute = "/.well-known/spin/x"\ncomponent = "cart"\n`;
    const plan = planWorkload(parseSpinManifest(dup, '/apps/shop/spin.toml', false), {
      runtimeConfig: EMPTY_RUNTIME_CONFIG,
      variables: sources({ env: { SPIN_VARIABLE_API_KEY: 'k' } }),
      env: [],
    });
    assert.deepEqual(plan.warnings, [
      'The following component routes are duplicates and will never be used: cart: /cart/... (duplicate of http-trigger2-component)',
      'Routes under /.well-known/spin/ are handled by the Spin runtime and will never be reached',
    ]);
    assert.deepEqual(plan.router.route('/cart/x')!.target, { component: 'http-trigger2-component' });
  });

  it('an outbound template that resolves to a bad entry, or a bad route, is an error naming the field', () => {
    const bad = MANIFEST.replace('api_host = { default = "api.example.com" }', 'api_host = { default = "no scheme here" }').replace(
      'https://{{ api_host }}"]',
      '{{ api_host }}"]',
    );
    assert.throws(
      () =>
        planWorkload(parseSpinManifest(bad, '/apps/shop/spin.toml', false), {
          runtimeConfig: EMPTY_RUNTIME_CONFIG,
          variables: sources({ env: { SPIN_VARIABLE_API_KEY: 'k' } }),
          env: [],
        }),
      /\/apps\/shop\/spin\.toml: component\.cart\.allowed_outbound_hosts: `allowed_outbound_hosts` is malformed: "no scheme here" \(from the template/,
    );
    const secretHost = MANIFEST.replace('https://{{ api_host }}"]', 'https://{{ api_key }}/x"]');
    assert.throws(
      () =>
        planWorkload(parseSpinManifest(secretHost, '/apps/shop/spin.toml', false), {
          runtimeConfig: EMPTY_RUNTIME_CONFIG,
          variables: sources({ env: { SPIN_VARIABLE_API_KEY: 's3cr3t' } }),
          env: [],
        }),
      (e: Error) => e.message.includes('"https://<redacted>/x"') && !e.message.includes('s3cr3t'),
      'a secret value used in an entry is not printed',
    );
    const badRoute = MANIFEST.replace('route = "/cart/..."', 'route = "/cart/*name"');
    assert.throws(
      () =>
        planWorkload(parseSpinManifest(badRoute, '/apps/shop/spin.toml', false), {
          runtimeConfig: EMPTY_RUNTIME_CONFIG,
          variables: sources({ env: { SPIN_VARIABLE_API_KEY: 'k' } }),
          env: [],
        }),
      /spin\.toml: trigger\.http: Error parsing route \/cart\/\*name associated with component cart/,
    );
  });
});
