/** Reading the TOML files `mortar up` takes (the Spin manifest, the runtime config) with one error shape. */
import { parse as parseToml, TomlError } from 'smol-toml';

/** A TOML table as smol-toml gives it. */
export type TomlTable = Record<string, unknown>;

/** Parses `text`; a syntax error is handed to `fail` as `TOML parse error at line L, column C: ...` (path ''). */
export function parseTomlFile(text: string, fail: (path: string, reason: string) => never): TomlTable {
  try {
    return parseToml(text) as TomlTable;
  } catch (err) {
    if (err instanceof TomlError) fail('', `TOML parse error at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`);
    throw err;
  }
}
