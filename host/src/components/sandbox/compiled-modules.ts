import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { limitMemory } from '../wasm-memory-limit.js';
import { exportState } from '../wasm-export-state.js';

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

export function compiledModules(dir: string, memoryLimitBytes: number, stateExports = false): Promise<Record<string, WebAssembly.Module>> {
  const key = `${dir}\u0000${memoryLimitBytes}\u0000${stateExports}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const names = (await readdir(dir)).filter((n) => n.endsWith('.wasm'));
      const entries = await Promise.all(
        names.map(async (n) => {
          const limited = limitMemory(await readFile(join(dir, n)), memoryLimitBytes);
          const bytes = (stateExports ? exportState(limited) : limited) as Uint8Array<ArrayBuffer>;
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
