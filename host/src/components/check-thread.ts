/**
 * What a resources folder and a component supply, checked off the API thread: resource YAML is parsed,
 * and metadata is validated against the component's own JSON Schema under a time limit
 * (`METADATA_VALIDATION_TIMEOUT_MS`).
 *
 * Why: both can take long. The schema comes from the component, and a `pattern` of `^(a+)+$` on a
 * 28-character value held the main thread, and with it every HTTP route, for 12 s; parsing YAML runs at
 * about 1 MB/s, so even a file within `MAX_RESOURCE_FILE_BYTES` held it for a few hundred ms. Here the work
 * runs one task at a time on worker threads: schema checks on one at a low CPU priority (nice 10), YAML on one
at the normal priority (`schemaChecks`, `yamlParser`). A validation that overruns is ended by
 * terminating the thread (the next task starts a fresh one) and refused as `SchemaTimeout`, naming the
 * field whose `pattern` was being tested. Parsing needs no limit: the file size and alias limits bound it.
 */
import { Worker } from 'node:worker_threads';
import { SchemaError } from './metadata-schema.js';
import type { ResourceProblem, Resource } from '../resources/resources.js';
import { METADATA_VALIDATION_TIMEOUT_MS } from '../resources/resource-limits.js';

export type CheckResult = { ok: true; value: Record<string, string> } | { ok: false; problems: string[] };
export type ParseResult = { resources: Resource[]; problems: ResourceProblem[] };

/** What a thread is for: it loads only that task's code (ajv or yaml), before it reports ready. */
export type CheckThreadKind = 'schema' | 'yaml';

/** Main thread -> check thread. */
export type ToCheckThread =
  | { op: 'validate'; id: number; schema: string; metadata: Record<string, string> }
  | { op: 'parse'; id: number; file: string; text: string };

/** Check thread -> main thread. */
export type FromCheckThread =
  | { op: 'ready' }
  | { op: 'pattern'; id: number; value: string }
  | { op: 'validated'; id: number; result: CheckResult }
  | { op: 'parsed'; id: number; result: ParseResult }
  | { op: 'failed'; id: number; schemaError: boolean; message: string };

/** A check that did not finish within the limit; `fields` are those whose value a `pattern` was testing. */
export class SchemaTimeout extends Error {
  constructor(
    readonly fields: readonly string[],
    readonly limitMs: number,
  ) {
    super(
      `${fields.length > 0 ? fields.map((f) => `field '${f}'`).join(', ') : 'the metadata'} did not validate against the component's schema within ${limitMs}ms (a schema pattern that backtracks without bound?)`,
    );
  }
}

type Task = { op: 'validate'; schema: string; metadata: Record<string, string> } | { op: 'parse'; file: string; text: string };

/** How long a check thread may sit idle before it is stopped (a later task starts a new one). */
export const CHECK_THREAD_IDLE_MS = 2000;

const WORKER_URL = new URL('./check-worker.js', import.meta.url);

export class CheckThread {
  #worker?: { w: Worker; ready: Promise<void> };
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #idle?: NodeJS.Timeout;

  /**
   * `kind`: the tasks it runs (a `schema` thread validates, a `yaml` thread parses); `nice`: the thread's CPU
   * niceness (0 normal, 19 lowest); `timeoutMs`: the limit on one validation.
   */
  constructor(
    readonly kind: CheckThreadKind,
    readonly nice: number,
    readonly timeoutMs = METADATA_VALIDATION_TIMEOUT_MS,
  ) {}

  /**
   * Validates `metadata` against `schema` (see `MetadataValidator.validate`). Rejects with `SchemaError` when
   * the schema does not compile and with `SchemaTimeout` when the check overruns.
   */
  validate(schema: string, metadata: Readonly<Record<string, string>>): Promise<CheckResult> {
    return this.#enqueue({ op: 'validate', schema, metadata: { ...metadata } }) as Promise<CheckResult>;
  }

  /** Parses one resource file's text (see `parseResources`). */
  parse(file: string, text: string): Promise<ParseResult> {
    return this.#enqueue({ op: 'parse', file, text }) as Promise<ParseResult>;
  }

  /** Starts the thread now, so that loading it overlaps other start-up work instead of delaying the first task. */
  warm(): void {
    this.#thread();
    if (this.#pending === 0) this.#idleClose();
  }

  /** Stops the thread (a later task starts a new one). */
  async close(): Promise<void> {
    const w = this.#worker?.w;
    this.#worker = undefined;
    await w?.terminate();
  }

  /**
   * Tasks run one behind another. A thread left idle for `CHECK_THREAD_IDLE_MS` is stopped: a sidecar
   * parses and checks at start and on a hot reload, and an idle isolate costs several MB of RSS.
   */
  #enqueue(task: Task): Promise<unknown> {
    clearTimeout(this.#idle);
    this.#pending++;
    const run = this.#queue.then(() => this.#run(task));
    this.#queue = run
      .catch(() => undefined)
      .then(() => {
        if (--this.#pending === 0) this.#idleClose();
      });
    return run;
  }

  #idleClose(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      if (this.#pending === 0) void this.close();
    }, CHECK_THREAD_IDLE_MS);
    this.#idle.unref();
  }

  #thread(): { w: Worker; ready: Promise<void> } {
    if (this.#worker) return this.#worker;
    const w = new Worker(WORKER_URL, { name: `m:check-${this.kind}`, workerData: { nice: this.nice, kind: this.kind } });
    w.unref(); // an idle check thread never keeps the process alive
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromCheckThread) => {
        if (m.op === 'ready') {
          w.off('message', onMessage);
          resolve();
        }
      };
      w.on('message', onMessage);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`check thread exited with code ${code}`)));
    });
    ready.catch(() => undefined);
    w.on('exit', () => {
      if (this.#worker?.w === w) this.#worker = undefined;
    });
    this.#worker = { w, ready };
    return this.#worker;
  }

  async #run(task: Task): Promise<unknown> {
    const { w, ready } = this.#thread();
    // A limit counts the task only, not the thread's start (loading ajv and yaml).
    await ready;
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      let testing: string | undefined;
      const done = () => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
      };
      const onMessage = (m: FromCheckThread) => {
        if (m.op === 'ready' || m.id !== id) return;
        if (m.op === 'pattern') {
          testing = m.value;
          return;
        }
        done();
        if (m.op === 'failed') reject(m.schemaError ? new SchemaError(m.message) : new Error(m.message));
        else resolve(m.result);
      };
      const onExit = (code: number) => {
        done();
        reject(new Error(`check thread exited with code ${code}`));
      };
      const timer =
        task.op !== 'validate'
          ? undefined
          : setTimeout(() => {
              done();
              if (this.#worker?.w === w) this.#worker = undefined;
              void w.terminate();
              const fields = testing === undefined ? [] : Object.keys(task.metadata).filter((k) => task.metadata[k] === testing);
              reject(new SchemaTimeout(fields, this.timeoutMs));
            }, this.timeoutMs);
      w.on('message', onMessage);
      w.on('exit', onExit);
      w.postMessage({ ...task, id } satisfies ToCheckThread);
    });
  }
}

/** Where components' metadata is checked against their schemas (every registry): low CPU priority (nice 10). */
export const schemaChecks = new CheckThread('schema', 10);

/** Where resource files are parsed (discovery): normal priority, bounded by the file size and alias limits. */
export const yamlParser = new CheckThread('yaml', 0);
