/**
 * A Spin application manifest (`spin.toml`, `spin_manifest_version = 2`) read and checked as Spin 3.6 reads
 * it (`spin-manifest` `schema/v2.rs`, `normalize.rs`; `spin-loader`), keeping what mortar runs.
 *
 * Every table refuses fields Spin does not know (Spin's `deny_unknown_fields`). Of the fields Spin knows:
 * - run: `[application] name` (the workload's app id), `[variables]`, `[[trigger.http]]` (`route`, `component`
 *   as an id or an inline table, `static_response`, `executor = { type = "http" }`), and per component `source`
 *   (a local file), `variables`, `environment`, `allowed_outbound_hosts`, `allowed_http_hosts` (deprecated,
 *   converted), `key_value_stores`;
 * - accepted and ignored (only `spin build`, `spin watch`, `spin deploy` or tools read them): `version`,
 *   `description`, `authors`, `targets`, `tool`, `[component.x.build]`, `exclude_files`;
 * - refused with the field named, because ignoring them would change what the app does: file mounts, SQLite
 *   databases, AI models, component dependencies, other trigger types, Wagi and WASIp3 executors, URL and
 *   registry sources, a `base` other than `/` (Spin refuses it too), version 1 manifests.
 *
 * Errors name the file and the field path (`component.api.files`, `trigger.http[1].route`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { convertAllowedHttpHosts, parseAllowedHost } from './outbound-hosts.js';
import { appIdProblem, kebabIdProblem, labelProblem, variableNameProblem } from './spin-ids.js';
import { isLiteral, parseTemplate, templateNames } from './spin-template.js';
import { parseTomlFile } from './toml-file.js';

/** The largest manifest read (a manifest is a few KiB; this bounds what a start reads and parses). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** A `[variables]` entry. */
export interface SpinVariable {
  readonly name: string;
  readonly required: boolean;
  readonly default?: string;
  /** The value is sensitive: never logged. */
  readonly secret: boolean;
}

/** A `[component.<id>]` (inline components of triggers included, under the id Spin gives them). */
export interface SpinComponent {
  readonly id: string;
  /** The `.wasm` file, absolute. */
  readonly source: string;
  /** Component variable name -> template over application variables (`"https://{{ host }}/api"`). */
  readonly variables: Readonly<Record<string, string>>;
  /** WASI environment variables of the component. */
  readonly environment: Readonly<Record<string, string>>;
  /** `allowed_outbound_hosts`, then the converted `allowed_http_hosts`; may hold `{{ variable }}` templates. */
  readonly allowedOutboundHosts: readonly string[];
  /** Key-value store labels the component may open. */
  readonly keyValueStores: readonly string[];
}

/** A `static_response` of an HTTP trigger: answered by the host, no component runs. */
export interface StaticResponse {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
}

/** A `[[trigger.http]]`. */
export interface SpinHttpTrigger {
  /** The trigger's id (`id`, or the one Spin generates: `<component>-http-trigger`, `http-trigger<n>`). */
  readonly id: string;
  /** The route as written, or `private` (the component is reachable only by service chaining). */
  readonly route: string | { readonly private: true };
  /** The component that handles it (absent for a static response). */
  readonly component?: string;
  readonly staticResponse?: StaticResponse;
  /** Index in the manifest's `[[trigger.http]]` array (for error paths). */
  readonly index: number;
}

/** A checked Spin application. */
export interface SpinApp {
  /** `application.name`: the workload's app id. */
  readonly name: string;
  readonly version?: string;
  /** The manifest file, absolute. */
  readonly manifestPath: string;
  readonly variables: ReadonlyMap<string, SpinVariable>;
  readonly components: ReadonlyMap<string, SpinComponent>;
  readonly httpTriggers: readonly SpinHttpTrigger[];
  /** Things accepted but worth a line in the log (the deprecated `base = "/"`, `allowed_http_hosts`). */
  readonly warnings: readonly string[];
}

/** A manifest mortar cannot run. `path` is the field (`component.api.files`), empty for the whole file. */
export class SpinManifestError extends Error {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${file}: ${path ? `${path}: ` : ''}${reason}`);
    this.name = 'SpinManifestError';
  }
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * The manifest `-f` names: a file, or a directory holding `spin.toml`; without `-f`, `./spin.toml`. Answers
 * the absolute file path or throws what is wrong.
 */
export function locateManifest(from: string | undefined, cwd = process.cwd()): string {
  if (from === undefined) {
    const p = join(cwd, 'spin.toml');
    if (!existsSync(p)) throw new Error("Default file 'spin.toml' not found. Run `mortar up -f <APPLICATION>`, or `mortar up --help` for usage.");
    return p;
  }
  const p = resolve(cwd, from);
  if (existsSync(p) && statSync(p).isDirectory()) {
    const inDir = join(p, 'spin.toml');
    if (!existsSync(inDir)) throw new Error(`${p} is a directory with no spin.toml in it`);
    return inDir;
  }
  if (existsSync(p)) {
    if (p.endsWith('.wasm'))
      throw new Error(`${from}: running a bare .wasm is not supported by mortar up; write a spin.toml naming it as a component's source`);
    return p;
  }
  if (/^[a-z0-9.-]+(:\d+)?\/[^\s]+(:[\w.-]+|@sha256:[0-9a-f]+)$/i.test(from) && !from.startsWith('.'))
    throw new Error(`${from}: registry applications are not supported by mortar up; pull the app and run its spin.toml`);
  throw new Error(`${from}: no such file or directory`);
}

/** Reads and checks the manifest at `file` (at most `MAX_MANIFEST_BYTES`). Source files must exist. */
export function loadSpinManifest(file: string): SpinApp {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new SpinManifestError(file, '', `cannot read the manifest: ${(err as Error).message}`);
  }
  if (size > MAX_MANIFEST_BYTES) throw new SpinManifestError(file, '', `the manifest is ${size} bytes; at most ${MAX_MANIFEST_BYTES} are read`);
  return parseSpinManifest(readFileSync(file, 'utf8'), file);
}

/**
 * Checks a manifest's text. `file` names it in errors and anchors relative `source` paths; with
 * `checkFiles` false (unit tests), sources need not exist.
 */
export function parseSpinManifest(text: string, file: string, checkFiles = true): SpinApp {
  const fail = (path: string, reason: string): never => {
    throw new SpinManifestError(file, path, reason);
  };
  const doc = parseTomlFile(text, fail) as Table;
  const warnings: string[] = [];
  const version = doc.spin_manifest_version;
  if (version === undefined) fail('spin_manifest_version', 'missing field `spin_manifest_version` (mortar up runs manifest version 2)');
  if (version === '1' || version === 1)
    fail('spin_manifest_version', 'manifest version 1 is not supported by mortar up: convert it to version 2 (`spin doctor` does it)');
  if (version !== 2) fail('spin_manifest_version', `invalid manifest version: ${JSON.stringify(version)}`);
  unknownFields(doc, '', ['spin_manifest_version', 'application', 'variables', 'trigger', 'component'], fail);

  // [application]
  const application = doc.application;
  if (application === undefined) fail('application', 'missing field `application`');
  const appT = table(application, 'application', fail);
  unknownFields(appT, 'application', ['name', 'version', 'description', 'authors', 'targets', 'trigger', 'tool'], fail);
  const name = str(appT.name, 'application.name', fail, true)!;
  const idProblem = appIdProblem(name);
  if (idProblem) fail('application.name', `'${name}' is not a valid app id: ${idProblem}`);
  const appVersion = str(appT.version, 'application.version', fail);
  str(appT.description, 'application.description', fail);
  if (appT.trigger !== undefined) {
    const globals = table(appT.trigger, 'application.trigger', fail);
    for (const [type, cfg] of Object.entries(globals)) {
      const path = `application.trigger.${type}`;
      const c = table(cfg, path, fail);
      if (type !== 'http') fail(path, `the '${type}' trigger is not supported by mortar up (it runs HTTP triggers)`);
      unknownFields(c, path, ['base'], fail);
      if (c.base !== undefined) {
        const base = str(c.base, `${path}.base`, fail);
        if (base === '/') warnings.push("This application has the deprecated trigger 'base' set to the default value '/'. This may be an error in the future!");
        else
          fail(`${path}.base`, "This application is using the deprecated trigger 'base' field. The base must be prepended to each [[trigger.http]]'s 'route'.");
      }
    }
  }

  // [variables]
  const variables = new Map<string, SpinVariable>();
  if (doc.variables !== undefined) {
    for (const [vname, raw] of Object.entries(table(doc.variables, 'variables', fail))) {
      const path = `variables.${vname}`;
      const problem = variableNameProblem(vname);
      if (problem) fail(path, `invalid variable name: ${problem}`);
      const v = table(raw, path, fail);
      unknownFields(v, path, ['description', 'required', 'default', 'secret'], fail);
      str(v.description, `${path}.description`, fail);
      const required = bool(v.required, `${path}.required`, fail) ?? false;
      const dflt = str(v.default, `${path}.default`, fail);
      const secret = bool(v.secret, `${path}.secret`, fail) ?? false;
      if (required === (dflt !== undefined)) fail(path, 'invalid variable definition: must be `required` OR have a `default`');
      variables.set(vname, { name: vname, required, default: dflt, secret });
    }
  }

  // [component.<id>]
  const components = new Map<string, SpinComponent>();
  const dir = dirname(resolve(file));
  const component = (raw: unknown, id: string, path: string): SpinComponent => {
    const c = table(raw, path, fail);
    unknownFields(
      c,
      path,
      [
        'source',
        'description',
        'variables',
        'environment',
        'files',
        'exclude_files',
        'allowed_http_hosts',
        'allowed_outbound_hosts',
        'key_value_stores',
        'sqlite_databases',
        'ai_models',
        'targets',
        'build',
        'tool',
        'dependencies_inherit_configuration',
        'dependencies',
      ],
      fail,
    );
    if (c.source === undefined) fail(path, 'missing field `source`');
    const source = componentSource(c.source, `${path}.source`, dir, checkFiles, fail);
    str(c.description, `${path}.description`, fail);
    refuseNonEmpty(c.files, `${path}.files`, 'mounting files into a component is not supported by mortar yet', fail);
    strList(c.exclude_files, `${path}.exclude_files`, fail);
    refuseNonEmpty(
      c.sqlite_databases,
      `${path}.sqlite_databases`,
      'SQLite databases are not supported by mortar (use key_value_stores, which map to Dapr state stores)',
      fail,
    );
    refuseNonEmpty(c.ai_models, `${path}.ai_models`, 'AI models (Serverless AI) are not supported by mortar', fail);
    if (c.dependencies !== undefined && Object.keys(table(c.dependencies, `${path}.dependencies`, fail)).length > 0)
      fail(
        `${path}.dependencies`,
        'component dependencies are not supported by mortar: compose the component first (e.g. with wac) and name the result as source',
      );
    if (bool(c.dependencies_inherit_configuration, `${path}.dependencies_inherit_configuration`, fail))
      fail(`${path}.dependencies_inherit_configuration`, 'component dependencies are not supported by mortar');
    if (c.build !== undefined) table(c.build, `${path}.build`, fail);
    if (c.tool !== undefined) table(c.tool, `${path}.tool`, fail);
    const vars = stringMap(c.variables, `${path}.variables`, fail);
    for (const [k, tmpl] of Object.entries(vars)) {
      const p = `${path}.variables.${k}`;
      const problem = variableNameProblem(k);
      if (problem) fail(p, `invalid variable name: ${problem}`);
      let names: string[];
      try {
        names = templateNames(parseTemplate(tmpl));
      } catch (err) {
        return fail(p, (err as Error).message);
      }
      for (const n of names) if (!variables.has(n)) fail(p, `invalid variable template: unknown variable "${n}"`);
    }
    const environment = stringMap(c.environment, `${path}.environment`, fail);
    const outbound = strList(c.allowed_outbound_hosts, `${path}.allowed_outbound_hosts`, fail);
    if (outbound.length === 1 && outbound[0] === 'insecure:allow-all')
      fail(`${path}.allowed_outbound_hosts`, "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'");
    for (const [i, h] of outbound.entries()) checkOutboundEntry(h, `${path}.allowed_outbound_hosts[${i}]`, variables, fail);
    const legacy = strList(c.allowed_http_hosts, `${path}.allowed_http_hosts`, fail);
    let converted: string[] = [];
    if (legacy.length > 0) {
      try {
        converted = convertAllowedHttpHosts(legacy);
      } catch (err) {
        fail(`${path}.allowed_http_hosts`, (err as Error).message);
      }
      warnings.push(
        `Use of the deprecated field \`allowed_http_hosts\` - to fix, replace \`allowed_http_hosts\` with \`allowed_outbound_hosts = ${JSON.stringify(converted)}\``,
      );
    }
    const kv = strList(c.key_value_stores, `${path}.key_value_stores`, fail);
    kv.forEach((l, i) => {
      const problem = labelProblem(l);
      if (problem) fail(`${path}.key_value_stores[${i}]`, `'${l}': ${problem}`);
    });
    return { id, source, variables: vars, environment, allowedOutboundHosts: [...outbound, ...converted], keyValueStores: [...new Set(kv)] };
  };
  if (doc.component !== undefined) {
    for (const [id, raw] of Object.entries(table(doc.component, 'component', fail))) {
      const problem = kebabIdProblem(id);
      if (problem) fail(`component.${id}`, `invalid component id '${id}': ${problem}`);
      components.set(id, component(raw, id, `component.${id}`));
    }
  }

  // [[trigger.<type>]]
  if (doc.trigger === undefined) fail('trigger', 'missing field `trigger`');
  const triggers = table(doc.trigger, 'trigger', fail);
  for (const type of Object.keys(triggers))
    if (type !== 'http') fail(`trigger.${type}`, `the '${type}' trigger is not supported by mortar up (it runs HTTP triggers)`);
  const httpRaw = triggers.http ?? [];
  if (!Array.isArray(httpRaw)) fail('trigger.http', 'expected an array of tables ([[trigger.http]])');
  const rawTriggers = (httpRaw as unknown[]).map((t, i) => table(t, `trigger.http[${i}]`, fail));
  // Spin's normalize_trigger_ids, then normalize_inline_components.
  const takenIds = new Set(rawTriggers.map((t) => (typeof t.id === 'string' ? t.id : '')));
  let counter = 1;
  const ids = rawTriggers.map((t, i) => {
    const given = str(t.id, `trigger.http[${i}].id`, fail);
    if (given) return given;
    if (typeof t.component === 'string') {
      const natural = `${t.component}-http-trigger`;
      if (!takenIds.has(natural)) {
        takenIds.add(natural);
        return natural;
      }
    }
    for (;;) {
      const id = `http-trigger${counter}`;
      if (!takenIds.has(id)) {
        takenIds.add(id);
        return id;
      }
      counter++;
    }
  });
  let inlineCounter = 1;
  const httpTriggers = rawTriggers.map((t, i): SpinHttpTrigger => {
    const path = `trigger.http[${i}]`;
    unknownFields(t, path, ['id', 'component', 'components', 'route', 'static_response', 'executor'], fail);
    if (t.components !== undefined && Object.keys(table(t.components, `${path}.components`, fail)).length > 0)
      fail(`${path}.components`, 'is reserved for future use and not supported');
    if (t.executor !== undefined) {
      const e = table(t.executor, `${path}.executor`, fail);
      const type = str(e.type, `${path}.executor.type`, fail, true);
      if (type === 'wagi') fail(`${path}.executor`, 'the Wagi executor is not supported by mortar (it runs wasi:http components)');
      if (type === 'wasip3-unstable') fail(`${path}.executor`, 'the wasip3-unstable executor is not supported by mortar (it runs wasi:http 0.2 components)');
      if (type !== 'http' && type !== 'spin')
        fail(`${path}.executor.type`, `unknown variant \`${type}\`, expected one of \`http\`, \`spin\`, \`wagi\`, \`wasip3-unstable\``);
      unknownFields(e, `${path}.executor`, ['type'], fail);
    }
    let componentId: string | undefined;
    if (typeof t.component === 'string') {
      const problem = kebabIdProblem(t.component);
      if (problem) fail(`${path}.component`, `'${t.component}': ${problem}`);
      componentId = t.component;
    } else if (t.component !== undefined) {
      table(t.component, `${path}.component`, fail);
      let id = `${ids[i]}-component`;
      if (kebabIdProblem(id) !== undefined || components.has(id)) {
        for (;;) {
          id = `inline-component${inlineCounter}`;
          if (!components.has(id)) break;
          inlineCounter++;
        }
      }
      components.set(id, component(t.component, id, `${path}.component`));
      componentId = id;
    }
    const staticResponse = t.static_response === undefined ? undefined : staticResponseOf(t.static_response, `${path}.static_response`, fail);
    if (componentId === undefined && staticResponse === undefined)
      fail(path, `Triggers must specify either component or static_response - ${ids[i]} has neither`);
    if (componentId !== undefined && staticResponse !== undefined) fail(path, `Triggers must specify either component or static_response - ${ids[i]} has both`);
    if (componentId !== undefined && !components.has(componentId))
      fail(`${path}.component`, `no component '${componentId}' in the manifest ([component.${componentId}])`);
    if (t.route === undefined) fail(path, 'missing field `route`');
    let route: SpinHttpTrigger['route'];
    if (typeof t.route === 'string') route = t.route;
    else if (isTable(t.route)) {
      unknownFields(t.route, `${path}.route`, ['private'], fail);
      if (t.route.private !== true)
        fail(`${path}.route`, `route must be a string pattern or '{ private = true }': '${componentId ?? ids[i]}' has { private = false }`);
      route = { private: true };
    } else return fail(`${path}.route`, 'expected a string pattern or { private = true }');
    return { id: ids[i]!, route, component: componentId, staticResponse, index: i };
  });

  return { name, version: appVersion, manifestPath: resolve(file), variables, components, httpTriggers, warnings };
}

type Fail = (path: string, reason: string) => never;

function unknownFields(t: Table, path: string, known: readonly string[], fail: Fail): void {
  for (const k of Object.keys(t))
    if (!known.includes(k)) fail(path ? `${path}.${k}` : k, `unknown field \`${k}\`, expected one of ${known.map((x) => `\`${x}\``).join(', ')}`);
}

function table(v: unknown, path: string, fail: Fail): Table {
  if (!isTable(v)) fail(path, `expected a table, found ${kind(v)}`);
  return v as Table;
}

function kind(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  return typeof v === 'object' ? 'a table' : `a ${typeof v === 'number' || typeof v === 'bigint' ? 'number' : typeof v}`;
}

function str(v: unknown, path: string, fail: Fail, required = false): string | undefined {
  if (v === undefined) {
    if (required) fail(path, `missing field \`${path.split('.').pop()}\``);
    return undefined;
  }
  if (typeof v !== 'string') fail(path, `expected a string, found ${kind(v)}`);
  return v as string;
}

function bool(v: unknown, path: string, fail: Fail): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(path, `expected a boolean, found ${kind(v)}`);
  return v as boolean;
}

function strList(v: unknown, path: string, fail: Fail): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(path, `expected an array of strings, found ${kind(v)}`);
  (v as unknown[]).forEach((x, i) => {
    if (typeof x !== 'string') fail(`${path}[${i}]`, `expected a string, found ${kind(x)}`);
  });
  return v as string[];
}

function stringMap(v: unknown, path: string, fail: Fail): Record<string, string> {
  if (v === undefined) return {};
  const t = table(v, path, fail);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(t)) {
    if (typeof x !== 'string') fail(`${path}.${k}`, `expected a string, found ${kind(x)}`);
    out[k] = x as string;
  }
  return out;
}

function refuseNonEmpty(v: unknown, path: string, why: string, fail: Fail): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) fail(path, `expected an array, found ${kind(v)}`);
  if ((v as unknown[]).length > 0) fail(path, why);
}

function componentSource(v: unknown, path: string, dir: string, checkFiles: boolean, fail: Fail): string {
  if (isTable(v)) {
    if ('url' in v) fail(path, 'a URL source is not supported by mortar: download the .wasm (checking its digest) and set source to its path');
    if ('package' in v || 'registry' in v)
      fail(path, 'a registry source is not supported by mortar: fetch the component and set source to its local .wasm path');
    return fail(path, 'expected a path to a .wasm file, a { url, digest } or a { registry, package, version }');
  }
  const s = str(v, path, fail, true)!;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) fail(path, `'${s}' is a URL: mortar runs local .wasm files (a path relative to the manifest)`);
  const p = isAbsolute(s) ? s : join(dir, s);
  if (checkFiles) {
    if (!existsSync(p)) fail(path, `the component file ${p} does not exist (build the app first, e.g. \`spin build\`)`);
    if (!statSync(p).isFile()) fail(path, `${p} is not a file`);
  }
  return p;
}

function staticResponseOf(v: unknown, path: string, fail: Fail): StaticResponse {
  const t = table(v, path, fail);
  unknownFields(t, path, ['status_code', 'headers', 'body'], fail);
  let status = 200;
  if (t.status_code !== undefined) {
    if (typeof t.status_code !== 'number' || !Number.isInteger(t.status_code) || t.status_code < 100 || t.status_code > 999)
      fail(`${path}.status_code`, 'expected an HTTP status code (100..999)');
    status = t.status_code as number;
  }
  const headers = Object.entries(stringMap(t.headers, `${path}.headers`, fail));
  for (const [k, val] of headers) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) fail(`${path}.headers.${k}`, 'not a valid header name');
    if (/[\r\n\0]/.test(val)) fail(`${path}.headers.${k}`, 'not a valid header value');
  }
  const body = str(t.body, `${path}.body`, fail);
  return { status, headers, body };
}

function checkOutboundEntry(entry: string, path: string, variables: ReadonlyMap<string, SpinVariable>, fail: Fail): void {
  let t: ReturnType<typeof parseTemplate> | undefined;
  try {
    t = parseTemplate(entry);
  } catch (err) {
    fail(path, (err as Error).message);
  }
  if (!t) return;
  if (!isLiteral(t)) {
    for (const n of templateNames(t)) if (!variables.has(n)) fail(path, `invalid variable template: unknown variable "${n}"`);
    return; // checked once the variables have their values (see spin-workload.ts)
  }
  try {
    parseAllowedHost(entry);
  } catch (err) {
    fail(path, `\`allowed_outbound_hosts\` is malformed: ${(err as Error).message}`);
  }
}
