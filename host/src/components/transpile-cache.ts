import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { MortarError } from '../errors.js';
import { glueTables } from './glue-tables.js';

/** The jco version whose glue is cached. */
export const JCO_VERSION = '1.35.0';
/**
 * The glue's identity: the jco version and the version of mortar's changes to it (`patchGlue`). The name of the
 * cache folder, so an upgrade of either never reuses stale glue.
 */
export const GLUE_ID = `jco-${JCO_VERSION}-mortar.7`;

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

  /**
   * Returns the artifact for `bytes`, transpiling on a cache miss. `source` names the file in errors.
   * `asyncImports` (jco's names: `async-imports.ts`) asks for JSPI glue instead: those imports suspend the
   * guest and every export answers a promise. Kept apart from the synchronous artifact of the same bytes.
   */
  async get(bytes: Uint8Array, source: string, asyncImports?: readonly string[]): Promise<Artifact> {
    const hash = createHash('sha256').update(bytes).digest('hex');
    const key = asyncImports ? `${hash}-jspi-${createHash('sha256').update(asyncImports.join('\n')).digest('hex').slice(0, 16)}` : hash;
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#load(hash, key, bytes, source, asyncImports).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }

  async #load(hash: string, key: string, bytes: Uint8Array, source: string, asyncImports?: readonly string[]): Promise<Artifact> {
    for (const root of asyncImports ? [] : this.#prebuilt) {
      const found = await readArtifact(join(root, hash), hash, 'prebuilt');
      if (found) return found;
    }
    const dir = join(this.#root, key);
    const found = await readArtifact(dir, hash, 'cache');
    if (found) return found;

    let out: Awaited<ReturnType<typeof import('@bytecodealliance/jco').transpile>>;
    try {
      // Loaded on the first cache miss only: jco's bindgen is large, and a warm start never needs it.
      const { transpile } = await import('@bytecodealliance/jco');
      out = await transpile(bytes, {
        name: 'component',
        instantiation: 'async',
        noTypescript: true,
        quiet: true,
        ...(asyncImports ? { asyncMode: 'jspi', asyncImports: [...asyncImports], asyncExports: ['*'] } : {}),
      });
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
    const manifest: Manifest = { imports: out.imports, exports: out.exports.map(([name]) => name), jco: GLUE_ID };
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

/** The folder of a cache tree that holds the artifacts of this glue (`GLUE_ID`). */
function versioned(root: string): string {
  return join(root, GLUE_ID);
}

/** The artifact in `dir`, if one for this jco version is there (folders are renamed into place complete). */
async function readArtifact(dir: string, hash: string, origin: ArtifactOrigin): Promise<Artifact | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    if (manifest.jco === GLUE_ID) return { hash, dir, imports: manifest.imports, exports: manifest.exports, origin };
  } catch {
    /* miss */
  }
  return undefined;
}

/**
 * The changes made to jco 1.35's glue before it is cached:
 * - `JCO_DEBUG` is read once per instance instead of on every lift and lower (`_debugLog`);
 * - a synchronous host import skips the async-task bookkeeping (`hostImportFastPath`);
 * - in JSPI glue, so do a suspending host import and an export with no result (`jspiFastPath`);
 * - the resource tables of an instantiation are handed to whoever instantiates it (`glueTables`).
 */
export function patchGlue(js: string): string {
  return glueTables(
    jspiFastPath(
      hostImportFastPath(
        js
          .replaceAll('globalThis?.process?.env?.JCO_DEBUG', '__mortarJcoDebug')
          .replace('export function instantiate(', 'const __mortarJcoDebug = !!globalThis?.process?.env?.JCO_DEBUG;\nexport function instantiate('),
      ),
    ),
  );
}

/** One host import trampoline of jco's glue, from `const _trampolineN = [async ]function(` to its `fnName` line. */
interface Trampoline {
  readonly n: string;
  readonly async: boolean;
  /** The function, up to (not including) the `_trampolineN.fnName = ...` line. */
  readonly body: string;
  /** What follows the `fnName` line (the lines that mark the trampoline: `manuallyAsync`, `__mortarHost`). */
  readonly next: string;
}

/**
 * Rewrites each trampoline of `js` that `rewrite` answers for: its body replaced, and `_trampolineN.<mark> =
 * true;` put after its `fnName` line. The others stay as they are. `seen`: how many trampolines there are.
 */
function rewriteTrampolines(js: string, rewrite: (t: Trampoline) => { body: string; mark: string } | undefined): { out: string; seen: number } {
  let out = '';
  let at = 0;
  let seen = 0;
  const start = /\n {2}const _trampoline(\d+) = (async )?function\(/g;
  for (let m = start.exec(js); m; m = start.exec(js)) {
    seen++;
    const n = m[1]!;
    const marker = `\n  _trampoline${n}.fnName = `;
    const end = js.indexOf(marker, m.index);
    if (end < 0) continue;
    const lineEnd = js.indexOf('\n', end + marker.length);
    const done = rewrite({ n, async: m[2] !== undefined, body: js.slice(m.index, end), next: js.slice(lineEnd, lineEnd + 80) });
    if (!done) continue;
    out += `${js.slice(at, m.index)}${done.body}${js.slice(end, lineEnd)}\n  _trampoline${n}.${done.mark} = true;`;
    at = lineEnd;
    start.lastIndex = lineEnd;
  }
  return { out: out + js.slice(at), seen };
}

/**
 * What each trampoline is wrapped in (instead of `_lowerImportBackwardsCompat.bind(null, args)`): an import that
 * takes a fast path (`__mortarHost`, or `__mortarHostAsync` under JSPI; marked before the wrapping) is called
 * through a forwarder that keeps only the trap check, decided once when the glue is instantiated; any other
 * keeps jco's wrapper. This is the one place the fast path is taken: jco's wrapper spreads its arguments into
 * two arrays, builds a debug-log object and destructures fourteen fields on every call, about a tenth of an
 * async workload worker's CPU under load (`wat-http`, 2026-12-04).
 */
const LOWER_DIRECT = `function __mortarLower(args) {
    const f = args.importFn;
    const c = args.componentIdx;
    if (!args.isAsync && !args.funcTypeIsAsync && ((f.__mortarHost && !args.isManualAsync) || f.__mortarHostAsync)) {
      return (...a) => {
        _checkMayLeave(c);
        return f(...a);
      };
    }
    return _lowerImportBackwardsCompat.bind(null, args);
  }

  `;

/**
 * jco 1.35 wraps every host import in the bookkeeping of the component model's async tasks (preview 3): for each
 * call, a subtask of the calling export's task (`_lowerImportBackwardsCompat`), then a task of its own for the
 * host side (`createNewCurrentTask`: an `AsyncTask`, its registration, `enterSync`, `resolve`, `exit`), all to
 * pass a synchronous result back through the subtask. That is about 12 us of CPU per import when warm, and a
 * Wasm HTTP request makes tens of imports. mortar's host imports are all synchronous (they block on the bridge)
 * and never call back into the component, so for an import lowered synchronously (`isAsync: false`, not
 * manually async, its function type not async) none of that state is read: the import is called directly,
 * and its task is an inert stand-in. Lifting, lowering, resource borrows and the trap check stay as jco wrote
 * them. A trampoline whose shape differs from the expected one is left as it is.
 */
function hostImportFastPath(js: string): string {
  const TASK_BLOCK = /const hostProvided = true;\n[\s\S]*?const started = task\.enterSync\(\);/;
  const { out } = rewriteTrampolines(js, (t) => {
    const block = TASK_BLOCK.exec(t.body);
    if (t.async || !block || !/isAsync: false,/.test(block[0]) || /isAsync: true|Suspending|await /.test(t.body)) return undefined;
    return { body: t.body.replace(TASK_BLOCK, 'const task = __mortarHostTask;'), mark: '__mortarHost' };
  });
  const lower = 'function _lowerImportBackwardsCompat(args) {';
  const i = out.indexOf(lower);
  const check = '_checkMayLeave(componentIdx);';
  const j = i < 0 ? -1 : out.indexOf(check, i);
  if (j < 0) return js;
  // Every lowering goes through `__mortarLower`; a glue binding them otherwise is left as jco wrote it.
  const BIND = '_lowerImportBackwardsCompat.bind(\n  null,\n';
  if (!out.includes(BIND)) return js;
  return (out.slice(0, i) + LOWER_DIRECT + out.slice(i))
    .replaceAll(BIND, '__mortarLower(\n')
    .replace(
      'export function instantiate(',
      'const __mortarHostTask = { componentIdx: () => -1, id: () => 0, enterSync: () => true, resolve() {}, exit() {}, setErrored() {}, reject() {}, getParentSubtask: () => undefined };\nexport function instantiate(',
    );
}

/**
 * The same for JSPI glue (async workloads, the default), where jco 1.35 wraps each suspending import and each export
 * in preview 3's task model: a task entered under an exclusive lock, the current-task bookkeeping around every
 * call (`_withGlobalCurrentTaskMeta*`), a count of pending host operations with a deadlock check after each one
 * (`_trackHostOperation`), and `_suspendingImport`'s check that the current task may block. mortar's guests are
 * preview 2 components: an export runs start to end on one instance, which serves one request at a time, and
 * its only suspensions are mortar's host imports. So:
 * - a suspending host import (`manuallyAsync`) gets the inert task and calls the host function directly,
 *   awaiting its promise; `WebAssembly.Suspending` gets it without `_suspendingImport`'s wrapper;
 * - an export with no result (the incoming handler's `handle`) gets a task of its own that holds only its
 *   state (resolved, exited, the error it failed with) instead of a registered, entered `AsyncTask`.
 * It applies only when every host import of the glue takes a fast path; otherwise the glue is left as jco wrote
 * it. The exports of a composed component (its subcomponents call each other through jco's adapters, which read
 * the calling task) keep jco's task model; its imports still take the fast path. Lifting, lowering and the
 * trap checks stay.
 */
function jspiFastPath(js: string): string {
  if (!js.includes('new WebAssembly.Suspending(')) return js;
  const TASK_BLOCK = /const hostProvided = true;\n[\s\S]*?const started = await task\.enter\(\{ isHost: hostProvided \}\);/;
  let fast = 0;
  const { out: rewritten, seen } = rewriteTrampolines(js, (t) => {
    if (!t.async) {
      // A synchronous import: fast if `hostImportFastPath` marked it.
      if (t.next.startsWith(`\n  _trampoline${t.n}.__mortarHost = true;`)) fast++;
      return undefined;
    }
    const block = TASK_BLOCK.exec(t.body);
    if (!t.next.startsWith(`\n  _trampoline${t.n}.manuallyAsync = true;`) || !block || !/isAsync: false,/.test(block[0])) return undefined;
    fast++;
    const body = t.body
      .replace(TASK_BLOCK, 'const task = __mortarHostTask;\n    const started = true;')
      .replaceAll('_withGlobalCurrentTaskMetaAsync({', '__mortarRun({')
      .replaceAll('_trackHostOperation(() =>', '__mortarCall(() =>');
    return { body, mark: '__mortarHostAsync' };
  });
  if (seen === 0 || fast !== seen) return js;
  let out = rewritten;
  // `__mortarLower` (from `hostImportFastPath`) calls a `__mortarHostAsync` import directly, as it does a `__mortarHost` one.
  if (!out.includes('function __mortarLower(')) return js;
  out = out.replace(
    /let trampoline(\d+) = _trampoline\1\.manuallyAsync \? new WebAssembly\.Suspending\(_suspendingImport\(/g,
    (_, n: string) =>
      `let trampoline${n} = _trampoline${n}.manuallyAsync ? new WebAssembly.Suspending((_trampoline${n}.__mortarHostAsync ? ((_idx, fn) => fn) : _suspendingImport)(`,
  );
  // A composed component's subcomponents call each other through jco's guest-to-guest adapters, which look up
  // the calling export's registered task: its exports keep jco's task model.
  if (/_symmetricSyncGuestCall(Enter|Exit)\b(?!\()/.test(out)) return withHelpers(out);
  // Exports: `async function name(...) {` ... up to the next function at the same depth; a synchronously lifted
  // one only (no callback: not a preview 3 async export).
  const EXPORT_TASK =
    /const \[task, _wasm_call_currentTaskID\] = createNewCurrentTask\(\{\n\s*componentIdx: \d+,\n\s*isAsync: false,[^}]*?callbackFnName: null,[^}]*\}\);[\s\S]*?const started = await task\.enter\(\);\n[\s\S]*?CURRENT_TASK_MAY_BLOCK\.value = task\.mayBlock\(\) \? 1 : 0;/;
  const exportStart = /\n {2}async function ([\w$]+)\([^)]*\) \{\n\s*\n {4}const hostProvided = false;\n/g;
  let patched = '';
  let at = 0;
  for (let m = exportStart.exec(out); m; m = exportStart.exec(out)) {
    const end = out.indexOf('\n  }\n', m.index);
    if (end < 0) continue;
    const body = out.slice(m.index, end);
    // Only an export with no result: its result would be passed through the task.
    if (/\bret = /.test(body) || !EXPORT_TASK.test(body)) continue;
    const fastBody = body
      .replace(EXPORT_TASK, 'const task = __mortarExportTask();\n    const _wasm_call_currentTaskID = 0;')
      .replaceAll('_withGlobalCurrentTaskMetaAsync({', '__mortarRun({')
      .replaceAll('_withGlobalCurrentTaskMeta({', '__mortarRun({');
    patched += out.slice(at, m.index) + fastBody;
    at = end;
  }
  return withHelpers(patched + out.slice(at));
}

/** `jspiFastPath`'s helpers, put before the glue's `instantiate`. */
function withHelpers(js: string): string {
  return js.replace(
    'export function instantiate(',
    [
      'const __mortarRun = (o) => o.fn();',
      'const __mortarCall = (f) => f();',
      'const __mortarExportTask = () => {',
      '  let resolved = false, exited = false, error;',
      '  return {',
      '    componentIdx: () => 0, id: () => 0, mayBlock: () => true, setReturnMemoryIdx() {}, setReturnMemory() {},',
      '    setErrored(e) { error = e; }, reject(e) { error = e; resolved = true; }, resolve() { resolved = true; },',
      '    exit() { exited = true; }, isResolvedState: () => resolved, isExited: () => exited,',
      '    completionPromise: () => Promise.reject(error),',
      '  };',
      '};',
      'export function instantiate(',
    ].join('\n'),
  );
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
