/**
 * One instance of a workload (a component exporting `wasi:http/incoming-handler`) that looks fresh to every
 * request, without being instantiated anew for each.
 *
 * Spin gives every request a fresh instance, and these guests depend on it (a StarlingMonkey instance that
 * has answered once never answers again). Instantiating a 12 MB StarlingMonkey component costs tens of
 * milliseconds; so the instance is instantiated once, its post-initialisation state is snapshotted, and after
 * each request that state is put back:
 * - every core instance's linear memories (the chunks a request changed copied back: `memory-image.ts`) and
 *   mutable globals (the core modules were rewritten to export them: `wasm-export-state.ts`);
 * - the resource tables jco's glue keeps in JavaScript (handle tables and the host objects they capture:
 *   `glue-tables.ts`), so a resource a request did not drop is gone for the next one, as
 *   in a fresh instance.
 * What is left in the glue's JavaScript is its task bookkeeping, which a request leaves as it found it; as a
 * safety net the instance is instantiated anew after `FRESH_AFTER_REQUESTS` resets, and after
 * `FRESH_AFTER_REQUESTS_UNTRACKED` when the glue did not hand over its tables (a glue the patch did not
 * recognise: what it keeps then grows with every resource a guest leaves behind).
 * A request whose memory grew is followed by a fresh instantiation too (a memory cannot shrink back to its
 * snapshot's size), and so is a trap (the pool replaces the whole worker then).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GLUE_TABLES_KEY } from '../glue-tables.js';
import { STATE_EXPORT_PREFIX } from '../wasm-export-state.js';
import { INTERRUPT_CURRENT, INTERRUPT_EXPORT, INTERRUPT_TARGET, stopIfServing } from '../wasm-interrupt.js';
import { MemoryImage } from './memory-image.js';
import { requestPair, type WorkloadRequest, type WorkloadResponse } from './wasi-http.js';

/**
 * Resets before an instance is replaced by a fresh instantiation, when its glue's resource tables are reset
 * too. A safety net: over 20,000 requests nothing else of the glue grew, but its counters of host resources
 * (a rep is 30 bits) only start again with a fresh instantiation. One costs 20-50 ms: 2-5 us a request here.
 */
export const FRESH_AFTER_REQUESTS = 10_000;
/** The same when the glue's tables are not reset (it did not hand them over): bounds what they accumulate. */
export const FRESH_AFTER_REQUESTS_UNTRACKED = 1000;

type Instantiate = (
  getCoreModule: (path: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
  instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
) => Promise<Record<string, Record<string, (...a: unknown[]) => unknown>>> | Record<string, Record<string, (...a: unknown[]) => unknown>>;

/** The guest's `wasi:http/incoming-handler` export: a promise where the glue runs it async (jco's JSPI mode). */
interface Handler {
  handle(request: unknown, responseOut: unknown): void | Promise<void>;
}

/** The mutable state of the core instances and of the glue, as it was right after instantiation. */
interface Snapshot {
  readonly memories: ReadonlyArray<{ readonly memory: WebAssembly.Memory; readonly image: MemoryImage }>;
  readonly globals: ReadonlyArray<{ readonly global: WebAssembly.Global; readonly value: unknown }>;
  /** The glue's handle tables (arrays) and capture tables (maps); none if the glue did not hand them over. */
  readonly handleTables: ReadonlyArray<{ readonly table: unknown[]; readonly image: readonly unknown[] }>;
  readonly captureTables: ReadonlyArray<{ readonly table: Map<unknown, unknown>; readonly image: ReadonlyArray<[unknown, unknown]> }>;
}

/** How an instance is reused between requests. */
export type ReuseMode = 'reset' | 'fresh';

/** Counters of what the instance did (for tests and the benchmark). */
export interface InstanceStats {
  instantiations: number;
  resets: number;
}

export class WorkloadInstance {
  #handler!: Handler;
  #snapshot!: Snapshot;
  /** The interrupt words of its core instances whose loops can be stopped (`wasm-interrupt.ts`). */
  #interrupts: Int32Array[] = [];
  #served = 0;
  #dirty = false;
  readonly stats: InstanceStats = { instantiations: 0, resets: 0 };

  private constructor(
    private readonly instantiate: Instantiate,
    private readonly modules: Readonly<Record<string, WebAssembly.Module>>,
    private readonly imports: Record<string, unknown>,
    readonly mode: ReuseMode,
  ) {}

  /**
   * Loads the artifact's glue (`dir/component.js`, transpiled with `instantiation: 'async'`) and instantiates
   * it. `modules` are its core modules, compiled with their state exported (`compiledModules(dir, cap, true)`).
   * `mode: 'fresh'` instantiates anew for every request instead of resetting (the baseline of the benchmark).
   */
  static async create(
    dir: string,
    modules: Readonly<Record<string, WebAssembly.Module>>,
    imports: Record<string, unknown>,
    mode: ReuseMode = 'reset',
  ): Promise<WorkloadInstance> {
    const { instantiate } = (await import(pathToFileURL(join(dir, 'component.js')).href)) as { instantiate: Instantiate };
    const inst = new WorkloadInstance(instantiate, modules, imports, mode);
    await inst.#fresh();
    return inst;
  }

  async #fresh(): Promise<void> {
    const cores: WebAssembly.Instance[] = [];
    const tables: unknown[] = [];
    const exports = await this.instantiate(
      (p) => {
        const m = this.modules[p];
        if (!m) throw new Error(`artifact has no core module ${p}`);
        return m;
      },
      { ...this.imports, [GLUE_TABLES_KEY]: tables },
      (module, imports) => {
        // Synchronous: jco's generator then runs the whole instantiation in this turn.
        const instance = new WebAssembly.Instance(module, imports);
        cores.push(instance);
        return instance;
      },
    );
    const handler = Object.entries(exports).find(([name]) => name === 'incomingHandler' || name.startsWith('wasi:http/incoming-handler@'))?.[1];
    if (!handler || typeof handler.handle !== 'function') throw new Error('the component exports no wasi:http/incoming-handler');
    this.#handler = handler as unknown as Handler;
    const memories: Array<Snapshot['memories'][number]> = [];
    const globals: Array<Snapshot['globals'][number]> = [];
    const interrupts: Int32Array[] = [];
    for (const core of cores) {
      // The interrupt memory is exported under a state name too: it is the host's, not state to put back.
      const interrupt = core.exports[INTERRUPT_EXPORT];
      if (interrupt instanceof WebAssembly.Memory) interrupts.push(new Int32Array(interrupt.buffer));
      for (const [name, item] of Object.entries(core.exports)) {
        if (!name.startsWith(STATE_EXPORT_PREFIX) || item === interrupt) continue;
        if (item instanceof WebAssembly.Memory) memories.push({ memory: item, image: MemoryImage.of(new Uint8Array(item.buffer)) });
        else if (item instanceof WebAssembly.Global) globals.push({ global: item, value: item.value });
      }
    }
    const handleTables: Array<Snapshot['handleTables'][number]> = [];
    const captureTables: Array<Snapshot['captureTables'][number]> = [];
    for (const t of tables) {
      if (Array.isArray(t)) handleTables.push({ table: t, image: t.slice() });
      else if (t instanceof Map) captureTables.push({ table: t, image: [...t] });
    }
    this.#snapshot = { memories, globals, handleTables, captureTables };
    this.#interrupts = interrupts;
    this.#served = 0;
    this.#dirty = false;
    this.stats.instantiations++;
  }

  /**
   * Resources the glue's tables hold now: the live handles (a free slot of a handle table has its scope
   * flagged and no rep) and the host objects captured (for tests: a reset puts them back to the snapshot's).
   */
  get glueEntries(): number {
    let n = 0;
    for (const { table } of this.#snapshot.handleTables)
      for (let i = 2; i + 1 < table.length; i += 2) if (table[i + 1] !== 0 && ((table[i] as number) & T_FLAG) === 0) n++;
    for (const { table } of this.#snapshot.captureTables) n += table.size;
    return n;
  }

  /** Whether the glue's tables are now exactly as they were after instantiation (for tests). */
  get glueAsSnapshot(): boolean {
    return (
      this.#snapshot.handleTables.every(({ table, image }) => sameItems(table, image)) &&
      this.#snapshot.captureTables.every(({ table, image }) => sameEntries(table, image))
    );
  }

  /** Whether a reset puts the glue's resource tables back (the glue handed them over: `glueTables`). */
  get tracksGlue(): boolean {
    return this.#snapshot.handleTables.length + this.#snapshot.captureTables.length > 0;
  }

  /** Bytes of linear memory the snapshot covers (what a reset compares) and keeps (its chunks not all zeros). */
  get snapshotSize(): { bytes: number; stored: number } {
    let bytes = 0;
    let stored = 0;
    for (const { image } of this.#snapshot.memories) {
      bytes += image.length;
      stored += image.storedBytes;
    }
    return { bytes, stored };
  }

  /**
   * Serves one request: makes the instance fresh if the last request used it, then calls the guest's
   * `handle`. Throws what the guest threw (a trap); the instance must not be used after that.
   */
  async handle(req: WorkloadRequest): Promise<WorkloadResponse | { error: string }> {
    if (this.#dirty) await this.renew();
    this.#dirty = true;
    const pair = requestPair(req);
    await this.#handler.handle(pair.request, pair.outparam);
    return pair.read();
  }

  /** Puts the post-initialisation state back (or instantiates anew when a reset cannot: see the file's TSDoc). */
  async renew(): Promise<void> {
    if (!this.#dirty) return;
    const bound = this.tracksGlue ? FRESH_AFTER_REQUESTS : FRESH_AFTER_REQUESTS_UNTRACKED;
    if (this.mode === 'fresh' || this.#served + 1 >= bound || !this.#reset()) {
      await this.#fresh();
      return;
    }
    this.#served++;
    this.#dirty = false;
    this.stats.resets++;
  }

  /** The shared buffers of its interrupt words, for the watchdog (new with each instantiation: `stats.instantiations`). */
  get interruptBuffers(): SharedArrayBuffer[] {
    return this.#interrupts.map((w) => w.buffer as SharedArrayBuffer);
  }

  /** Marks the request it serves from now (`id` > 0; 0: none): only a watchdog's write of that id stops its loops. */
  serving(id: number): void {
    for (const w of this.#interrupts) {
      Atomics.store(w, INTERRUPT_TARGET, 0);
      Atomics.store(w, INTERRUPT_CURRENT, id);
    }
  }

  /** Stops request `id` if this instance serves it: its guest traps at its next loop head. */
  stop(id: number): void {
    stopIfServing(this.#interrupts, id);
  }

  /** Whether a watchdog asked to stop request `id` (so a trap while serving it was that interruption). */
  interrupted(id: number): boolean {
    return this.#interrupts.some((w) => Atomics.load(w, INTERRUPT_TARGET) === id);
  }

  /** Restores memories and globals; false when a memory grew (only a fresh instance has the old size). */
  #reset(): boolean {
    for (const { memory, image } of this.#snapshot.memories) if (memory.buffer.byteLength !== image.length) return false;
    for (const { memory, image } of this.#snapshot.memories) image.restore(Buffer.from(memory.buffer));
    for (const { global, value } of this.#snapshot.globals) global.value = value;
    for (const { table, image } of this.#snapshot.handleTables) restoreTable(table, image);
    for (const { table, image } of this.#snapshot.captureTables) restoreMap(table, image);
    return true;
  }
}

/** jco's flag on a handle table's owned reps and free-list links (`T_FLAG` in its glue). */
const T_FLAG = 1 << 30;

function sameItems(table: readonly unknown[], image: readonly unknown[]): boolean {
  return table.length === image.length && image.every((v, i) => table[i] === v);
}

function sameEntries(table: Map<unknown, unknown>, image: ReadonlyArray<[unknown, unknown]>): boolean {
  return table.size === image.length && image.every(([k, v]) => table.get(k) === v);
}

/** Makes handle table `table` equal `image` in place (the glue's closures hold the array itself). */
function restoreTable(table: unknown[], image: readonly unknown[]): void {
  const n = image.length;
  if (table.length !== n) table.length = n;
  for (let i = 0; i < n; i++) if (table[i] !== image[i]) table[i] = image[i];
}

/** Makes capture table `table` hold `image`'s entries, in place (the glue holds the map itself). */
function restoreMap(table: Map<unknown, unknown>, image: ReadonlyArray<[unknown, unknown]>): void {
  if (sameEntries(table, image)) return;
  table.clear();
  for (const [k, v] of image) table.set(k, v);
}
