/**
 * The runtime-config file of `mortar up --runtime-config-file <file>` (TOML, as `spin up`'s), keeping what
 * mortar can honour:
 *
 * - `[key_value_store.<label>] type = "mortar"` with `component = "<state store>"`: the label opens that Dapr
 *   state store. Spin's own store types (`spin`, `redis`, `azure_cosmos`, `aws_dynamo`) are refused with the
 *   way to say the same in mortar (a Dapr component YAML in `--resources-path`, then `type = "mortar"`).
 * - `[[variables_provider]]` (alias `[[config_provider]]`) of `type = "static"` (`values = { name = "..." }`) or
 *   `type = "env"` (`prefix`, `dotenv_path`); Vault and Azure Key Vault are refused.
 *
 * Any other top-level key is refused with its name, as Spin refuses keys it does not use
 * (`unused runtime config key(s): ...`). Without a file, or for a label the file does not name: `default`
 * opens the state store `statestore` (the embedded default when none is configured) and any other label the
 * state store of the same name.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseTomlFile } from './toml-file.js';

/** The largest runtime-config file read. */
export const MAX_RUNTIME_CONFIG_BYTES = 1024 * 1024;

/** Where variable values come from, besides the manifest's defaults (in this order, after `--variable`). */
export type VariableProvider =
  | { readonly type: 'static'; readonly values: Readonly<Record<string, string>> }
  | { readonly type: 'env'; readonly prefix: string; readonly dotenvPath?: string };

/** A checked runtime config. */
export interface WorkloadRuntimeConfig {
  /** Key-value label -> Dapr state store name, as the file maps them. */
  readonly keyValueStores: ReadonlyMap<string, string>;
  /** Providers the file lists, in order; Spin's environment provider (`SPIN_VARIABLE_`, `.env`) comes after them. */
  readonly variableProviders: readonly VariableProvider[];
}

/** No file: no mappings, no extra providers. */
export const EMPTY_RUNTIME_CONFIG: WorkloadRuntimeConfig = { keyValueStores: new Map(), variableProviders: [] };

/** The state store a key-value label opens: the file's mapping, else `default` -> `statestore`, else the label. */
export function stateStoreForLabel(label: string, config: WorkloadRuntimeConfig): string {
  return config.keyValueStores.get(label) ?? (label === 'default' ? 'statestore' : label);
}

/** Spin's top-level runtime-config keys mortar does not honour, each with what to do instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  sqlite_database: 'SQLite databases are not supported by mortar',
  llm_compute: 'AI models (Serverless AI) are not supported by mortar',
  client_tls: 'per-host TLS client settings are not supported by mortar yet',
  outbound_http: 'outbound HTTP settings are not supported by mortar yet',
  state_dir: 'mortar keeps its state under --data-dir',
  log_dir: 'mortar logs to stdout and stderr',
  max_instance_memory: 'use --component-memory',
  otel: 'OpenTelemetry settings are not supported by mortar yet',
};

/** Reads and checks a runtime-config file. */
export function loadRuntimeConfig(file: string): WorkloadRuntimeConfig {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new Error(`${file}: cannot read the runtime config: ${(err as Error).message}`);
  }
  if (size > MAX_RUNTIME_CONFIG_BYTES) throw new Error(`${file}: the runtime config is ${size} bytes; at most ${MAX_RUNTIME_CONFIG_BYTES} are read`);
  return parseRuntimeConfig(readFileSync(file, 'utf8'), file);
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Checks a runtime config's text; errors name `file` and the key (`key_value_store.cache.type`). */
export function parseRuntimeConfig(text: string, file: string): WorkloadRuntimeConfig {
  const fail = (path: string, reason: string): never => {
    throw new Error(`${file}: ${path ? `${path}: ` : ''}${reason}`);
  };
  const doc = parseTomlFile(text, fail) as Table;
  const unused: string[] = [];
  for (const k of Object.keys(doc)) {
    if (k === 'key_value_store' || k === 'variables_provider' || k === 'config_provider') continue;
    if (UNSUPPORTED[k]) fail(k, UNSUPPORTED[k]!);
    unused.push(k);
  }
  if (unused.length > 0) fail('', `unused runtime config key(s): ${unused.join(', ')}`);

  const keyValueStores = new Map<string, string>();
  if (doc.key_value_store !== undefined) {
    if (!isTable(doc.key_value_store)) fail('key_value_store', 'expected a table of [key_value_store.<label>]');
    for (const [label, raw] of Object.entries(doc.key_value_store as Table)) {
      const path = `key_value_store.${label}`;
      if (!isTable(raw)) fail(path, 'expected a table');
      const t = raw as Table;
      if (t.type === undefined) fail(path, 'missing field `type`');
      if (typeof t.type !== 'string') fail(`${path}.type`, 'expected a string');
      const type = t.type as string;
      if (type === 'mortar') {
        for (const k of Object.keys(t))
          if (k !== 'type' && k !== 'component') fail(`${path}.${k}`, `unknown field \`${k}\`, expected \`type\` or \`component\``);
        if (typeof t.component !== 'string' || t.component === '')
          fail(`${path}.component`, 'the name of a Dapr state store is required (type = "mortar", component = "<store>")');
        keyValueStores.set(label, t.component as string);
        continue;
      }
      const instead = `declare a Dapr state store component in --resources-path and map the label to it with type = "mortar", component = "<store>"`;
      if (type === 'spin') fail(`${path}.type`, `"spin" (a local SQLite file) is not supported by mortar: ${instead} (state.sqlite keeps a local file)`);
      if (type === 'redis') fail(`${path}.type`, `"redis" is not supported by mortar: ${instead} (state.redis)`);
      if (type === 'azure_cosmos' || type === 'aws_dynamo') fail(`${path}.type`, `"${type}" is not supported by mortar: ${instead}`);
      fail(`${path}.type`, `the store type '${type}' was not registered with the config resolver (mortar knows type = "mortar")`);
    }
  }

  const variableProviders: VariableProvider[] = [];
  for (const key of ['variables_provider', 'config_provider'] as const) {
    const v = doc[key];
    if (v === undefined) continue;
    if (!Array.isArray(v)) fail(key, `expected an array of tables ([[${key}]])`);
    (v as unknown[]).forEach((raw, i) => {
      const path = `${key}[${i}]`;
      if (!isTable(raw)) fail(path, 'expected a table');
      const t = raw as Table;
      const fields = (known: string[]) => {
        for (const k of Object.keys(t)) if (k !== 'type' && !known.includes(k)) fail(`${path}.${k}`, `unknown field \`${k}\``);
      };
      switch (t.type) {
        case 'static': {
          fields(['values']);
          if (!isTable(t.values)) fail(`${path}.values`, 'expected a table of name = "value"');
          const values: Record<string, string> = {};
          for (const [n, val] of Object.entries(t.values as Table)) {
            if (typeof val !== 'string') fail(`${path}.values.${n}`, 'expected a string');
            values[n] = val as string;
          }
          variableProviders.push({ type: 'static', values });
          break;
        }
        case 'env': {
          fields(['prefix', 'dotenv_path']);
          if (t.prefix !== undefined && typeof t.prefix !== 'string') fail(`${path}.prefix`, 'expected a string');
          if (t.dotenv_path !== undefined && typeof t.dotenv_path !== 'string') fail(`${path}.dotenv_path`, 'expected a string');
          variableProviders.push({ type: 'env', prefix: (t.prefix as string | undefined) ?? 'SPIN_VARIABLE', dotenvPath: t.dotenv_path as string | undefined });
          break;
        }
        case 'vault':
        case 'azure_key_vault':
          fail(`${path}.type`, `the "${t.type}" variables provider is not supported by mortar (secret stores come with Dapr's secrets block)`);
          break;
        default:
          fail(`${path}.type`, `unknown variant ${JSON.stringify(t.type)}, expected one of \`static\`, \`env\`, \`vault\`, \`azure_key_vault\``);
      }
    });
  }
  return { keyValueStores, variableProviders };
}
