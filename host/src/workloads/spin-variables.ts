/**
 * Variable values as `spin up` resolves them (Spin 3.6 `spin-expressions`, `spin-variables-env`,
 * `spin-variables-static`). For each `[variables]` entry the first provider with a value wins:
 *
 * 1. `--variable name=value` (also `name=@file`: the file's text; `@file.json` / `@file.toml`: a map of them);
 * 2. the runtime config's `[[variables_provider]]`s, in order;
 * 3. the environment: `SPIN_VARIABLE_<NAME>` (the name in ASCII upper case), then the same key in `./.env`;
 * 4. the manifest's `default`.
 *
 * A `required` variable none of them sets is a start error naming it. Component `variables` are templates over
 * these values; a component value is secret when any variable it uses is.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, isAbsolute, join } from 'node:path';
import { parseEnv } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import type { SpinComponent, SpinVariable } from './spin-manifest.js';
import type { VariableProvider } from './spin-runtime-config.js';
import { parseTemplate, renderTemplate } from './spin-template.js';

/** The largest file a `--variable` or a `.env` is read from. */
export const MAX_VARIABLE_FILE_BYTES = 1024 * 1024;

/** A resolved value; `secret` values are never logged. */
export interface VariableValue {
  readonly value: string;
  readonly secret: boolean;
}

/** Everything values come from, besides the manifest. */
export interface VariableSources {
  /** `--variable` values, merged (the last one given for a name wins). */
  readonly cli: Readonly<Record<string, string>>;
  /** The runtime config's providers. */
  readonly providers: readonly VariableProvider[];
  /** The process environment. */
  readonly env: NodeJS.ProcessEnv;
  /** The folder `.env` (and a relative `dotenv_path`) is read from: the current directory, as Spin. */
  readonly cwd: string;
}

function readBounded(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_VARIABLE_FILE_BYTES) throw new Error(`${file} is ${size} bytes; at most ${MAX_VARIABLE_FILE_BYTES} are read`);
  return readFileSync(file, 'utf8');
}

/**
 * Parses one `--variable` argument into name -> value pairs: `name=value`, `name=@file` (the file's text),
 * `@file.json` or `@file.toml` (a map of names to string values). Errors are Spin's.
 */
export function parseVariableArg(arg: string, cwd: string): Record<string, string> {
  const abs = (p: string) => (isAbsolute(p) ? p : join(cwd, p));
  if (arg.startsWith('@')) {
    const path = abs(arg.slice(1));
    const ext = extname(path);
    if (ext !== '.json' && ext !== '.toml')
      throw new Error('variables must be in the form key=value, key=@file, or @file.json / @file.toml (variable files must end in .json or .toml)');
    let text: string;
    try {
      text = readBounded(path);
    } catch (err) {
      throw new Error(`Failed to read "${path}": ${(err as Error).message}`);
    }
    let map: unknown;
    try {
      map = ext === '.json' ? JSON.parse(text) : parseToml(text);
    } catch (err) {
      throw new Error(`Failed to parse ${ext === '.json' ? 'JSON' : 'TOML'} from "${path}": ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`"${path}" must hold a map of variable names to string values`);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string') throw new Error(`"${path}": the value of ${k} is not a string`);
      out[k] = v;
    }
    return out;
  }
  const eq = arg.indexOf('=');
  if (eq < 0) throw new Error("variables must be in the form 'key=value' or '@file'");
  const key = arg.slice(0, eq);
  const val = arg.slice(eq + 1);
  if (val.startsWith('@')) {
    const path = abs(val.slice(1));
    try {
      return { [key]: readBounded(path) };
    } catch (err) {
      throw new Error(`Failed to read "${path}": ${(err as Error).message}`);
    }
  }
  return { [key]: val };
}

/** A `.env` file's entries (none when it does not exist or cannot be read, as Spin's dotenv lookup). */
function dotenv(file: string, cache: Map<string, Record<string, string>>): Record<string, string> {
  let entries = cache.get(file);
  if (!entries) {
    entries = {};
    try {
      if (existsSync(file)) entries = parseEnv(readBounded(file)) as Record<string, string>;
    } catch {
      entries = {};
    }
    cache.set(file, entries);
  }
  return entries;
}

/** Resolves every application variable; throws one error naming each required variable left without a value. */
export function resolveAppVariables(variables: ReadonlyMap<string, SpinVariable>, sources: VariableSources): Map<string, VariableValue> {
  const dotenvCache = new Map<string, Record<string, string>>();
  const providers: VariableProvider[] = [
    { type: 'static', values: sources.cli },
    ...sources.providers,
    { type: 'env', prefix: 'SPIN_VARIABLE', dotenvPath: '.env' },
  ];
  const lookup = (p: VariableProvider, name: string): string | undefined => {
    if (p.type === 'static') return Object.hasOwn(p.values, name) ? p.values[name] : undefined;
    const key = `${p.prefix}_${name.toUpperCase()}`;
    const v = sources.env[key];
    if (v !== undefined) return v;
    if (!p.dotenvPath) return undefined;
    const file = isAbsolute(p.dotenvPath) ? p.dotenvPath : join(sources.cwd, p.dotenvPath);
    const entries = dotenv(file, dotenvCache);
    return Object.hasOwn(entries, key) ? entries[key] : undefined;
  };
  const out = new Map<string, VariableValue>();
  const missing: string[] = [];
  for (const v of variables.values()) {
    let value: string | undefined;
    for (const p of providers) {
      value = lookup(p, v.name);
      if (value !== undefined) break;
    }
    value ??= v.default;
    if (value === undefined) missing.push(v.name);
    else out.set(v.name, { value, secret: v.secret });
  }
  if (missing.length > 0) {
    const how = missing.map((n) => `SPIN_VARIABLE_${n.toUpperCase()}`).join(', ');
    throw new Error(
      `${missing.map((n) => `variables.${n}`).join(', ')}: required variable${missing.length > 1 ? 's have' : ' has'} no value (set ${how}, or pass --variable ${missing[0]}=<value>)`,
    );
  }
  return out;
}

/**
 * A component's `variables`, each template filled in from the application's values. A value that uses a
 * secret variable is secret.
 */
export function resolveComponentVariables(component: SpinComponent, app: ReadonlyMap<string, VariableValue>): Map<string, VariableValue> {
  const out = new Map<string, VariableValue>();
  for (const [key, text] of Object.entries(component.variables)) {
    let secret = false;
    const value = renderTemplate(parseTemplate(text), (name) => {
      const v = app.get(name);
      if (!v) throw new Error(`component.${component.id}.variables.${key}: invalid variable template: unknown variable "${name}"`);
      secret ||= v.secret;
      return v.value;
    });
    out.set(key, { value, secret });
  }
  return out;
}
