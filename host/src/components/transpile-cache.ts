import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { MortarError } from '../errors.js';

/** The jco version whose glue is cached; part of the cache key so an upgrade never reuses stale glue. */
export const JCO_VERSION = '1.35.0';

/**
 * Where an artifact came from: `prebuilt` (shipped transpiled in `dist/components`, by `npm run build`),
 * `cache` (transpiled by an earlier start, under the data dir) or `transpiled` (by this call, now cached).
 */
export type ArtifactOrigin = 'prebuilt' | 'cache' | 'transpiled';

/** A transpiled component on disk, ready for a sandbox worker to import. */
export interface Artifact {
  /** SHA-256 of the `.wasm` bytes. */
  readonly hash: string;
  /** Folder holding `component.js` and its core modules. */
  readonly dir: string;
  /** The component's imports, as jco reports them (`mortar:host/redis`, `wasi:cli/stdout`, ...). */
  readonly imports: readonly string[];
  /** The component's exports (`mortar:component/state-store@0.1.0`, `stateStore`, ...). */
  readonly exports: readonly string[];
  /** Whether this call found it ready (prebuilt or cached) or had to transpile it. */
  readonly origin: ArtifactOrigin;
}

interface Manifest {
  imports: string[];
  exports: string[];
  jco: string;
}

/**
 * Transpiles components with jco, in memory, and caches the output on disk keyed by the file's hash.
 *
 * Read-only `prebuilt` trees laid out the same way (`<root>/jco-<version>/<sha256>/`) are consulted first:
 * the built-in components are transpiled by `npm run build` (see `prebuild.ts`) and shipped that way, so a
 * start with an empty data dir transpiles nothing of its own and only user components land in `root`.
 *
 * The generated glue reads `process.env.JCO_DEBUG` on every call; the cached copy reads it once, which
 * halves the cost of a host->component call (measured in `bench/`).
 */
export class TranspileCache {
  readonly #root: string;
  readonly #prebuilt: readonly string[];
  readonly #pending = new Map<string, Promise<Artifact>>();

  /** `root` is written on a miss; `prebuilt` roots are only read (they may be on a read-only file system). */
  constructor(root: string, prebuilt: readonly string[] = []) {
    this.#root = versioned(root);
    this.#prebuilt = prebuilt.map(versioned);
  }

  /** Returns the artifact for `bytes`, transpiling on a cache miss. `source` names the file in errors. */
  async get(bytes: Uint8Array, source: string): Promise<Artifact> {
    const hash = createHash('sha256').update(bytes).digest('hex');
    let p = this.#pending.get(hash);
    if (!p) {
      p = this.#load(hash, bytes, source).finally(() => this.#pending.delete(hash));
      this.#pending.set(hash, p);
    }
    return p;
  }

  async #load(hash: string, bytes: Uint8Array, source: string): Promise<Artifact> {
    for (const root of this.#prebuilt) {
      const found = await readArtifact(join(root, hash), hash, 'prebuilt');
      if (found) return found;
    }
    const dir = join(this.#root, hash);
    const found = await readArtifact(dir, hash, 'cache');
    if (found) return found;

    let out: Awaited<ReturnType<typeof import('@bytecodealliance/jco').transpile>>;
    try {
      // Loaded on the first cache miss only: jco's bindgen is large, and a warm start never needs it.
      const { transpile } = await import('@bytecodealliance/jco');
      out = await transpile(bytes, { name: 'component', instantiation: 'async', noTypescript: true, quiet: true });
    } catch (cause) {
      throw new MortarError('ERR_WASM_INVALID', [source, firstLine(cause)], { cause });
    }
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await rm(tmp, { recursive: true, force: true });
    for (const [name, content] of Object.entries(out.files)) {
      if (name.endsWith('.d.ts')) continue;
      const file = join(tmp, name);
      await mkdir(dirname(file), { recursive: true });
      let data: Uint8Array = content;
      if (name === 'component.js') data = Buffer.from(patchGlue(Buffer.from(content).toString('utf8')));
      await writeFile(file, data);
    }
    const manifest: Manifest = { imports: out.imports, exports: out.exports.map(([name]) => name), jco: JCO_VERSION };
    await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest));
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(tmp, dir);
    } catch {
      // Another process won the race: use its copy.
      await rm(tmp, { recursive: true, force: true });
    }
    return { hash, dir, imports: out.imports, exports: manifest.exports, origin: 'transpiled' };
  }
}

/** The folder of a cache tree that holds this jco version's artifacts. */
function versioned(root: string): string {
  return join(root, `jco-${JCO_VERSION}`);
}

/** The artifact in `dir`, if one for this jco version is there (folders are renamed into place complete). */
async function readArtifact(dir: string, hash: string, origin: ArtifactOrigin): Promise<Artifact | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    if (manifest.jco === JCO_VERSION) return { hash, dir, imports: manifest.imports, exports: manifest.exports, origin };
  } catch {
    /* miss */
  }
  return undefined;
}

/** Reads JCO_DEBUG once per instance instead of on every lift/lower (jco 1.35 `_debugLog`). */
export function patchGlue(js: string): string {
  return js
    .replaceAll('globalThis?.process?.env?.JCO_DEBUG', '__mortarJcoDebug')
    .replace('export function instantiate(', 'const __mortarJcoDebug = !!globalThis?.process?.env?.JCO_DEBUG;\nexport function instantiate(');
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (
    msg
      .split('\n')
      .find((l) => l.trim().length > 0)
      ?.trim() ?? 'unknown error'
  );
}
