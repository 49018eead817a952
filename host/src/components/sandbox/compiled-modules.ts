import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { limitMemory } from '../wasm-memory-limit.js';

/**
 * Core modules of a transpiled component, compiled once per process and shared by every instance.
 *
 * A `WebAssembly.Module` passed to a worker shares its compiled code instead of compiling again, so each
 * further instance costs its linear memory and glue, not another copy of the engine's machine code; and
 * replacing a killed instance does not recompile. Keyed by artifact folder and memory cap.
 */
const cache = new Map<string, Promise<Record<string, WebAssembly.Module>>>();

export function compiledModules(dir: string, memoryLimitBytes: number): Promise<Record<string, WebAssembly.Module>> {
  const key = `${dir}\u0000${memoryLimitBytes}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const names = (await readdir(dir)).filter((n) => n.endsWith('.wasm'));
      const entries = await Promise.all(
        names.map(async (n) => {
          const bytes = limitMemory(await readFile(join(dir, n)), memoryLimitBytes) as Uint8Array<ArrayBuffer>;
          return [n, await WebAssembly.compile(bytes)] as const;
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
