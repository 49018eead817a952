/**
 * Build-time preparation of a folder of components: each `.wasm` is transpiled with jco and described once,
 * and the result is kept beside it, so a sidecar that loads them never transpiles them at run time.
 *
 * `npm run build` runs it on `dist/components` (scripts/build-components.mjs); the package ships the result
 * (`files` in package.json includes `dist/components`). The runtime reads the tree through
 * `TranspileCache`'s read-only roots, keyed by the `.wasm` file's SHA-256, so a `.wasm` rebuilt without
 * running this again is simply transpiled into the data dir as a user component would be.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../logger.js';
import { DEFAULTS } from '../config.js';
import { ComponentLoader } from './component-types.js';
import { GLUE_ID, TranspileCache, type ArtifactOrigin } from './transpile-cache.js';

/** The folder, inside a components folder, holding its prebuilt artifacts (not a `.wasm` name: discovery skips it). */
export const PREBUILT_FOLDER = 'transpiled';

/** Where the prebuilt artifacts of the components in `componentsDir` live. */
export function prebuiltRoot(componentsDir: string): string {
  return join(componentsDir, PREBUILT_FOLDER);
}

/** One component prepared by `prebuildComponents`. */
export interface PrebuiltComponent {
  readonly file: string;
  readonly types: readonly string[];
  readonly hash: string;
  /** `prebuilt` when it was already up to date, `transpiled` when this run transpiled it. */
  readonly origin: ArtifactOrigin;
}

/**
 * Transpiles and describes every `.wasm` directly in `componentsDir` into `prebuiltRoot(componentsDir)`,
 * and removes the artifacts of files that are gone or changed (and of other jco versions). Incremental: an
 * artifact already there for the file's hash is kept. Throws, naming the file, if a component does not load.
 */
export async function prebuildComponents(componentsDir: string): Promise<PrebuiltComponent[]> {
  const root = prebuiltRoot(componentsDir);
  const loader = new ComponentLoader(new TranspileCache(root), createLogger('warn'), DEFAULTS.componentCallTimeoutMs, DEFAULTS.componentMemoryBytes);
  const files = (await readdir(componentsDir))
    .filter((n) => n.endsWith('.wasm'))
    .sort()
    .map((n) => join(componentsDir, n));
  const done: PrebuiltComponent[] = [];
  const queue = [...files];
  // Two at a time: transpiling is CPU-bound and each description starts a worker.
  await Promise.all(
    [0, 1].map(async () => {
      for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
        const m = await loader.load(file, true);
        // The loader sees this tree as its own cache: found there means already prebuilt.
        done.push({ file, types: m.descriptor.types, hash: m.artifact.hash, origin: m.artifact.origin === 'transpiled' ? 'transpiled' : 'prebuilt' });
      }
    }),
  );
  const keep = new Set(done.map((d) => d.hash));
  const current = GLUE_ID;
  const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
  for (const name of await list(root)) {
    if (name !== current) await rm(join(root, name), { recursive: true, force: true });
  }
  for (const name of await list(join(root, current))) {
    if (!keep.has(name)) await rm(join(root, current, name), { recursive: true, force: true });
  }
  return done.sort((a, b) => a.file.localeCompare(b.file));
}
