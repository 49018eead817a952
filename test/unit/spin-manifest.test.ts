/**
 * Spin manifests (`spin_manifest_version = 2`) as `mortar up` reads them: what is run, what is accepted and
 * ignored (fields only `spin build` / `spin watch` read), and what is refused, each error naming the field.
 * Cases follow Spin 3.6's `crates/manifest/tests/ui` and `normalize.rs`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSpinManifest, locateManifest, parseSpinManifest, SpinManifestError } from '../../host/src/workloads/spin-manifest.js';
import { idProblem, labelProblem, variableNameProblem } from '../../host/src/workloads/spin-ids.js';
import { tempDir } from '../helpers/sidecar.js';

const HEAD = 'spin_manifest_version = 2\n[application]\nname = "app"\n';
const parse = (toml: string) => parseSpinManifest(toml, '/apps/x/spin.toml', false);
/** Asserts the manifest is refused at `path` with a message matching `reason`. */
function refused(toml: string, path: string, reason: RegExp): void {
  assert.throws(
    () => parse(toml),
    (e: unknown) => {
      assert.ok(e instanceof SpinManifestError, String(e));
      assert.equal(e.path, path, e.message);
      assert.match(e.reason, reason);
      assert.ok(e.message.startsWith(`/apps/x/spin.toml: ${path ? `${path}: ` : ''}`), e.message);
      return true;
    },
  );
}

describe('Spin manifest: what runs', () => {
  it('reads application, variables, triggers and components, with sources relative to the manifest', () => {
    const app = parse(`${HEAD}version = "1.2.3"
description = "d"
authors = ["a@example.com"]
targets = ["spin-up:3.3"]
[application.tool.lint]
level = "x"
[variables]
api_host = { default = "api.example.com" }
api_key = { required = true, secret = true, description = "k" }
[[trigger.http]]
route = "/api/..."
component = "api"
executor = { type = "http" }
[component.api]
source = "target/api.wasm"
description = "the API"
variables = { endpoint = "https://{{ api_host }}/v1", key = "{{ api_key }}" }
environment = { MODE = "prod" }
allowed_outbound_hosts = ["https://{{ api_host }}", "redis://cache:6379"]
key_value_stores = ["default", "snake_case", "kebab-case", "default"]
exclude_files = ["**/secret"]
[component.api.build]
command = ["npm install", "npm run build"]
workdir = "api"
watch = ["src/**/*.ts"]
[component.api.tool.clean]
command = "rm -rf target"
`);
    assert.equal(app.name, 'app');
    assert.equal(app.version, '1.2.3');
    assert.equal(app.manifestPath, '/apps/x/spin.toml');
    assert.deepEqual(app.variables.get('api_key'), { name: 'api_key', required: true, default: undefined, secret: true });
    assert.deepEqual(app.variables.get('api_host'), { name: 'api_host', required: false, default: 'api.example.com', secret: false });
    const c = app.components.get('api')!;
    assert.equal(c.source, '/apps/x/target/api.wasm');
    assert.deepEqual(c.variables, { endpoint: 'https://{{ api_host }}/v1', key: '{{ api_key }}' });
    assert.deepEqual(c.environment, { MODE: 'prod' });
    assert.deepEqual(c.allowedOutboundHosts, ['https://{{ api_host }}', 'redis://cache:6379']);
    assert.deepEqual(c.keyValueStores, ['default', 'snake_case', 'kebab-case']);
    assert.deepEqual(app.httpTriggers, [{ id: 'api-http-trigger', route: '/api/...', component: 'api', staticResponse: undefined, index: 0 }]);
    assert.deepEqual(app.warnings, []);
  });

  it('gives inline components and triggers the ids Spin gives them (normalize_trigger_ids, normalize_inline_components)', () => {
    const app = parse(`${HEAD}[[trigger.http]]
route = "/a"
component = { source = "a.wasm" }
[[trigger.http]]
id = "named"
route = "/b"
component = { source = "b.wasm" }
[[trigger.http]]
route = "/c"
component = "c"
[[trigger.http]]
route = "/c2"
component = "c"
[component.c]
source = "c.wasm"
`);
    assert.deepEqual(
      app.httpTriggers.map((t) => [t.id, t.component]),
      [
        ['http-trigger1', 'http-trigger1-component'],
        ['named', 'named-component'],
        ['c-http-trigger', 'c'],
        ['http-trigger2', 'c'],
      ],
    );
    assert.equal(app.components.get('named-component')!.source, '/apps/x/b.wasm');
  });

  it('serves static responses and private routes; converts the deprecated allowed_http_hosts with a warning', () => {
    const app = parse(`${HEAD}[application.trigger.http]
base = "/"
[[trigger.http]]
route = "/teapot"
static_response = { status_code = 418, headers = { x-kind = "tea" }, body = "short and stout" }
[[trigger.http]]
route = { private = true }
component = "inner"
[component.inner]
source = "inner.wasm"
allowed_http_hosts = ["example.com:8080", "self"]
`);
    assert.deepEqual(app.httpTriggers[0]!.staticResponse, { status: 418, headers: [['x-kind', 'tea']], body: 'short and stout' });
    assert.deepEqual(app.httpTriggers[1]!.route, { private: true });
    assert.deepEqual(app.components.get('inner')!.allowedOutboundHosts, ['http://example.com:8080', 'https://example.com:8080', 'http://self']);
    assert.equal(app.warnings.length, 2);
    assert.match(app.warnings[0]!, /deprecated trigger 'base' set to the default value '\/'/);
    assert.match(app.warnings[1]!, /deprecated field `allowed_http_hosts`/);
  });

  it('finds spin.toml in a directory, by default in the current directory, and checks that sources exist', () => {
    const dir = tempDir('spin-manifest');
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'app/spin.toml'), `${HEAD}[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n[component.c]\nsource = "c.wasm"\n`);
    assert.equal(locateManifest('app', dir), join(dir, 'app/spin.toml'));
    assert.equal(locateManifest(undefined, join(dir, 'app')), join(dir, 'app/spin.toml'));
    assert.throws(() => locateManifest(undefined, dir), /Default file 'spin.toml' not found/);
    assert.throws(() => locateManifest('ghcr.io/acme/app:v1', dir), /registry applications are not supported/);
    assert.throws(() => locateManifest('nope.toml', dir), /nope.toml: no such file or directory/);
    assert.throws(() => loadSpinManifest(join(dir, 'app/spin.toml')), /component\.c\.source: the component file .*c\.wasm does not exist/);
    writeFileSync(join(dir, 'app/c.wasm'), '\0asm\x01\0\0\0');
    assert.equal(loadSpinManifest(join(dir, 'app/spin.toml')).components.get('c')!.source, join(dir, 'app/c.wasm'));
    writeFileSync(join(dir, 'app/x.wasm'), '');
    assert.throws(() => locateManifest('app/x.wasm', dir), /running a bare \.wasm is not supported/);
  });
});

describe('Spin manifest: what is refused, naming the field', () => {
  const comp = (extra: string) => `${HEAD}[[trigger.http]]\nroute = "/"\ncomponent = "api"\n[component.api]\nsource = "api.wasm"\n${extra}\n`;

  it('versions, TOML syntax and missing tables', () => {
    refused('spin_manifest_version = "0"', 'spin_manifest_version', /invalid manifest version: "0"/);
    refused('spin_manifest_version = "1"\nname = "x"', 'spin_manifest_version', /manifest version 1 is not supported/);
    refused('[application]\nname = "x"', 'spin_manifest_version', /missing field `spin_manifest_version`/);
    refused('spin_manifest_version = 2\n[application\n', '', /TOML parse error at line 2, column \d+/);
    refused('spin_manifest_version = 2\n[[trigger.http]]\nroute = "/"', 'application', /missing field `application`/);
    refused(`${HEAD}`, 'trigger', /missing field `trigger`/);
    refused(`${HEAD}bogus = 1\n[trigger]`, 'application.bogus', /unknown field `bogus`/);
    refused(`spin_manifest_version = 2\nextra = true\n${HEAD.slice(26)}`, 'extra', /unknown field `extra`, expected one of `spin_manifest_version`/);
  });

  it('application.name must be a Dapr app id', () => {
    refused(
      'spin_manifest_version = 2\n[application]\nname = "my.app"\n[trigger]',
      'application.name',
      /'my\.app' is not a valid app id: the app id cannot contain dots/,
    );
    refused('spin_manifest_version = 2\n[application]\nname = ""\n[trigger]', 'application.name', /cannot be empty/);
    refused('spin_manifest_version = 2\n[application]\n[trigger]', 'application.name', /missing field `name`/);
  });

  it('a base other than / (Spin refuses it), other trigger types and their settings', () => {
    refused(
      `${HEAD}[application.trigger.http]\nbase = "/api"\n[trigger]`,
      'application.trigger.http.base',
      /The base must be prepended to each \[\[trigger\.http\]\]'s 'route'/,
    );
    refused(`${HEAD}[application.trigger.redis]\naddress = "redis://x"\n[trigger]`, 'application.trigger.redis', /the 'redis' trigger is not supported/);
    refused(`${HEAD}[[trigger.redis]]\nchannel = "c"\ncomponent = "x"`, 'trigger.redis', /the 'redis' trigger is not supported by mortar up/);
  });

  it('triggers: route, component, executor, static_response', () => {
    refused(`${HEAD}[[trigger.http]]\ncomponent = "api"\n[component.api]\nsource = "a.wasm"`, 'trigger.http[0]', /missing field `route`/);
    refused(`${HEAD}[[trigger.http]]\nroute = "/"\ncomponent = "nope"`, 'trigger.http[0].component', /no component 'nope' in the manifest/);
    refused(
      `${HEAD}[[trigger.http]]\nroute = "/"\ncomponent = "1-2-3"`,
      'trigger.http[0].component',
      /'-'-separated words must start with an ASCII letter; got '1'/,
    );
    refused(`${HEAD}[[trigger.http]]\nroute = "/"`, 'trigger.http[0]', /Triggers must specify either component or static_response - http-trigger1 has neither/);
    refused(
      `${HEAD}[[trigger.http]]\nroute = "/"\ncomponent = "api"\nstatic_response = { body = "x" }\n[component.api]\nsource = "a.wasm"`,
      'trigger.http[0]',
      /has both/,
    );
    refused(
      `${HEAD}[[trigger.http]]\nroute = { private = false }\ncomponent = "api"\n[component.api]\nsource = "a.wasm"`,
      'trigger.http[0].route',
      /'api' has \{ private = false \}/,
    );
    refused(
      comp('').replace('component = "api"', 'component = "api"\nexecutor = { type = "wagi" }'),
      'trigger.http[0].executor',
      /the Wagi executor is not supported/,
    );
    refused(
      comp('').replace('component = "api"', 'component = "api"\nexecutor = { type = "wasip3-unstable" }'),
      'trigger.http[0].executor',
      /wasip3-unstable executor is not supported/,
    );
    refused(comp('').replace('component = "api"', 'component = "api"\nmethod = "GET"'), 'trigger.http[0].method', /unknown field `method`/);
    refused(
      `${HEAD}[[trigger.http]]\nroute = "/"\nstatic_response = { status_code = 42 }`,
      'trigger.http[0].static_response.status_code',
      /expected an HTTP status code/,
    );
  });

  it('variables: names, required XOR default, types', () => {
    refused(
      `${HEAD}[variables]\n"bad+name" = { required = true }\n[trigger]`,
      'variables.bad+name',
      /invalid variable name: '_'-separated words may only contain alphanumeric ASCII; got '\+'/,
    );
    refused(`${HEAD}[variables]\nApiKey = { required = true }\n[trigger]`, 'variables.ApiKey', /must be all lowercase or all UPPERCASE/);
    refused(`${HEAD}[variables]\nx = { required = true, default = "d" }\n[trigger]`, 'variables.x', /must be `required` OR have a `default`/);
    refused(`${HEAD}[variables]\nx = {}\n[trigger]`, 'variables.x', /must be `required` OR have a `default`/);
    refused(`${HEAD}[variables]\nx = { default = 5 }\n[trigger]`, 'variables.x.default', /expected a string, found a number/);
    refused(`${HEAD}[variables]\nx = { default = "5", sekret = true }\n[trigger]`, 'variables.x.sekret', /unknown field `sekret`/);
  });

  it('components: run-time fields mortar does not support are refused, each by its path', () => {
    refused(comp('files = ["assets/*"]'), 'component.api.files', /mounting files into a component is not supported/);
    refused(comp('sqlite_databases = ["default"]'), 'component.api.sqlite_databases', /SQLite databases are not supported/);
    refused(comp('ai_models = ["llama2-chat"]'), 'component.api.ai_models', /AI models/);
    refused(comp('[component.api.dependencies]\n"a:b/c" = "1.0.0"'), 'component.api.dependencies', /component dependencies are not supported/);
    refused(comp('dependencies_inherit_configuration = true'), 'component.api.dependencies_inherit_configuration', /not supported/);
    refused(comp('wat = 1'), 'component.api.wat', /unknown field `wat`/);
    assert.doesNotThrow(() => parse(comp('files = []\nsqlite_databases = []\nexclude_files = ["x"]')), 'empty lists change nothing and are accepted');
  });

  it('components: sources must be local files', () => {
    refused(
      comp('').replace('source = "api.wasm"', 'source = { url = "https://example.test/a.wasm", digest = "sha256:ab" }'),
      'component.api.source',
      /a URL source is not supported by mortar/,
    );
    refused(
      comp('').replace('source = "api.wasm"', 'source = { registry = "ttl.sh", package = "a:b", version = "1.0.0" }'),
      'component.api.source',
      /a registry source is not supported/,
    );
    refused(comp('').replace('source = "api.wasm"', 'source = "https://example.test/a.wasm"'), 'component.api.source', /is a URL/);
    refused(`${HEAD}[[trigger.http]]\nroute = "/"\ncomponent = "api"\n[component.api]\ndescription = "x"`, 'component.api', /missing field `source`/);
  });

  it('components: ids, variables, outbound hosts and key-value labels', () => {
    refused(`${HEAD}[trigger]\n[component.bad_id]\nsource = "a.wasm"`, 'component.bad_id', /words must be separated with '-', not '_'/);
    refused(comp('variables = { Endpoint = "x" }'), 'component.api.variables.Endpoint', /invalid variable name/);
    refused(comp('variables = { endpoint = "{{ missing }}" }'), 'component.api.variables.endpoint', /invalid variable template: unknown variable "missing"/);
    refused(comp('variables = { endpoint = "{{ open" }'), 'component.api.variables.endpoint', /unmatched '\{\{' in template/);
    refused(comp('variables = { n = 1 }'), 'component.api.variables.n', /expected a string, found a number/);
    refused(comp('environment = { N = true }'), 'component.api.environment.N', /expected a string, found a boolean/);
    refused(
      comp('allowed_outbound_hosts = ["example.com"]'),
      'component.api.allowed_outbound_hosts[0]',
      /`allowed_outbound_hosts` is malformed: "example.com" does not contain a scheme/,
    );
    refused(comp('allowed_outbound_hosts = ["https://{{ nope }}"]'), 'component.api.allowed_outbound_hosts[0]', /unknown variable "nope"/);
    refused(comp('allowed_outbound_hosts = ["insecure:allow-all"]'), 'component.api.allowed_outbound_hosts', /'insecure:allow-all' is not allowed/);
    refused(comp('allowed_http_hosts = ["ftp://x"]'), 'component.api.allowed_http_hosts', /One or more allowed_http_hosts entries was invalid/);
    refused(comp('key_value_stores = ["b@dlabel"]'), 'component.api.key_value_stores[0]', /'b@dlabel': expected kebab-case or snake_case/);
    refused(comp('key_value_stores = "default"'), 'component.api.key_value_stores', /expected an array of strings/);
  });
});

describe('Spin identifiers', () => {
  it('snake ids as Spin`s test_valid_snake_ids / test_invalid_snake_ids', () => {
    for (const ok of ['default', 'mixed_CASE_words', 'letters1_then2_numbers345']) assert.equal(idProblem(ok, '_', false), undefined, ok);
    for (const bad of [
      '',
      'kebab-case',
      '_leading_underscore',
      'trailing_underscore_',
      'double__underscore',
      '1initial_number',
      'unicode_snowpeople☃☃☃',
      'mIxEd_case',
      'MiXeD_case',
    ])
      assert.notEqual(idProblem(bad, '_', false), undefined, bad);
  });

  it('labels are kebab or snake; variable names lower snake', () => {
    for (const ok of ['default', 'snake_case', 'kebab-case']) assert.equal(labelProblem(ok), undefined);
    assert.equal(labelProblem('camelCase'), 'expected kebab-case or snake_case');
    assert.equal(variableNameProblem('api_key'), undefined);
    assert.match(variableNameProblem('API_KEY')!, /Lower-case identifiers must be all lowercase/);
  });
});
