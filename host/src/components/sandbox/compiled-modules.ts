import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { limitMemory } from '../wasm-memory-limit.js';
import { exportState } from '../wasm-export-state.js';
import { interruptible } from '../wasm-interrupt.js';

/**
 * Core modules of a transpiled component, compiled once per process and shared by every instance.
 *
 * A `WebAssembly.Module` passed to a worker shares its compiled code instead of compiling again, so each
 * further instance costs its linear memory and glue, not another copy of the engine's machine code; and
 * replacing a killed instance does not recompile. Keyed by artifact folder, memory cap and `stateExports`
 * (whether each module also exports its memories and mutable globals, for workloads reset between requests:
 * see `wasm-export-state.ts`).
 */
const cache = new Map<string, Promise<Record<string, WebAssembly.Module>>>();

/**
 * Modules asked for interruptible whose rewrite could not decode them (`wasm-interrupt.ts`), compiled as they
 * are: a guest looping in one can be stopped only by terminating its thread.
 */
export const uninterruptible = new WeakSet<WebAssembly.Module>();

export function compiledModules(dir: string, memoryLimitBytes: number, stateExports = false, interrupt = false): Promise<Record<string, WebAssembly.Module>> {
  const key = `${dir}\u0000${memoryLimitBytes}\u0000${stateExports}\u0000${interrupt}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const names = (await readdir(dir)).filter((n) => n.endsWith('.wasm'));
      const entries = await Promise.all(
        names.map(async (n) => {
          const read = interrupt ? await interruptibleModule(dir, n) : { bytes: await readFile(join(dir, n)), rewritten: true };
          const limited = limitMemory(read.bytes, memoryLimitBytes);
          const bytes = (stateExports ? exportState(limited) : limited) as Uint8Array<ArrayBuffer>;
          const mod = await WebAssembly.compile(bytes);
          if (!read.rewritten) uninterruptible.add(mod);
          return [n, mod] as const;
        }),
      );
      return Object.fromEntries(entries);
    })();
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** Forgets the compiled modules of an artifact (when no pool uses it any more). */
export function forgetModules(dir: string): void {
  for (const key of cache.keys()) if (key.startsWith(`${dir}\u0000`)) cache.delete(key);
}

/** The folder of an artifact holding its modules made interruptible (a rewrite of a 12 MB module takes 0.3 s). */
const INTERRUPTIBLE_DIR = 'interruptible-2';

/**
 * Core module `name` of the artifact in `dir` with its loops interruptible, as rewritten once and kept in the
 * artifact's folder; one the rewrite cannot decode as it is (`rewritten: false`; tried again at each start). A
 * folder that cannot be written is no error: the rewrite is then made again at each start.
 */
async function interruptibleModule(dir: string, name: string): Promise<{ bytes: Uint8Array; rewritten: boolean }> {
  const kept = join(dir, INTERRUPTIBLE_DIR, name);
  const cached = await readFile(kept).catch(() => undefined);
  if (cached) return { bytes: cached, rewritten: true };
  const original = await readFile(join(dir, name));
  let bytes: Uint8Array;
  try {
    bytes = interruptible(original).bytes;
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return { bytes: original, rewritten: false };
  }
  const tmp = `${kept}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  // Not `recursive`: an artifact folder removed meanwhile (another process replacing it) is not made again here.
  await mkdir(join(dir, INTERRUPTIBLE_DIR))
    .catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    })
    .then(() => writeFile(tmp, bytes))
    .then(() => rename(tmp, kept))
    .catch(() => rm(tmp, { force: true }).catch(() => undefined));
  return { bytes, rewritten: true };
}
