/**
 * Component metadata checked against the component's own JSON Schema, off the API thread and under a
 * time limit (`METADATA_VALIDATION_TIMEOUT_MS`).
 *
 * Why: the schema comes from the component. A `pattern` of `^(a+)+$` on a 28-character value held the
 * main thread, and with it every HTTP route, for 12 s. Here checks run one at a time on a worker thread;
 * one that overruns is ended by terminating the thread (the next check starts a fresh one) and refused
 * as `SchemaTimeout`, naming the field whose `pattern` was being tested.
 */
import { Worker } from 'node:worker_threads';
import { SchemaError } from './metadata-schema.js';
import { METADATA_VALIDATION_TIMEOUT_MS } from './resource-limits.js';

export type CheckResult = { ok: true; value: Record<string, string> } | { ok: false; problems: string[] };

/** Main thread -> check thread. */
export type ToMetadataCheck = { id: number; schema: string; metadata: Record<string, string> };

/** Check thread -> main thread. */
export type FromMetadataCheck =
  | { op: 'ready' }
  | { op: 'pattern'; id: number; value: string }
  | { op: 'result'; id: number; result: CheckResult }
  | { op: 'failed'; id: number; schemaError: boolean; message: string };

/** A check that did not finish within the limit; `fields` are those whose value a `pattern` was testing. */
export class SchemaTimeout extends Error {
  constructor(readonly fields: readonly string[], readonly limitMs: number) {
    super(`${fields.length > 0 ? fields.map((f) => `field '${f}'`).join(', ') : 'the metadata'} did not validate against the component's schema within ${limitMs}ms (a schema pattern that backtracks without bound?)`);
  }
}

const WORKER_URL = new URL('./metadata-check-worker.js', import.meta.url);

export class MetadataCheckThread {
  #worker?: { w: Worker; ready: Promise<void> };
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly timeoutMs = METADATA_VALIDATION_TIMEOUT_MS) {}

  /**
   * Validates `metadata` against `schema` (see `MetadataValidator.validate`). Rejects with `SchemaError` when
   * the schema does not compile and with `SchemaTimeout` when the check overruns. Checks queue one behind another.
   */
  validate(schema: string, metadata: Readonly<Record<string, string>>): Promise<CheckResult> {
    const run = this.#queue.then(() => this.#run(schema, { ...metadata }));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the thread (a later check starts a new one). */
  async close(): Promise<void> {
    const w = this.#worker?.w;
    this.#worker = undefined;
    await w?.terminate();
  }

  #thread(): { w: Worker; ready: Promise<void> } {
    if (this.#worker) return this.#worker;
    const w = new Worker(WORKER_URL);
    w.unref(); // an idle check thread never keeps the process alive
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromMetadataCheck) => { if (m.op === 'ready') { w.off('message', onMessage); resolve(); } };
      w.on('message', onMessage);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`metadata check thread exited with code ${code}`)));
    });
    ready.catch(() => undefined);
    w.on('exit', () => { if (this.#worker?.w === w) this.#worker = undefined; });
    this.#worker = { w, ready };
    return this.#worker;
  }

  async #run(schema: string, metadata: Record<string, string>): Promise<CheckResult> {
    const { w, ready } = this.#thread();
    // The limit counts the check only, not the thread's start (loading ajv).
    await ready;
    const id = this.#nextId++;
    return new Promise<CheckResult>((resolve, reject) => {
      let testing: string | undefined;
      const done = () => { clearTimeout(timer); w.off('message', onMessage); w.off('exit', onExit); };
      const onMessage = (m: FromMetadataCheck) => {
        if (m.op === 'ready' || m.id !== id) return;
        if (m.op === 'pattern') { testing = m.value; return; }
        done();
        if (m.op === 'result') resolve(m.result);
        else reject(m.schemaError ? new SchemaError(m.message) : new Error(m.message));
      };
      const onExit = (code: number) => { done(); reject(new Error(`metadata check thread exited with code ${code}`)); };
      const timer = setTimeout(() => {
        done();
        if (this.#worker?.w === w) this.#worker = undefined;
        void w.terminate();
        const fields = testing === undefined ? [] : Object.keys(metadata).filter((k) => metadata[k] === testing);
        reject(new SchemaTimeout(fields, this.timeoutMs));
      }, this.timeoutMs);
      w.on('message', onMessage);
      w.on('exit', onExit);
      w.postMessage({ id, schema, metadata } satisfies ToMetadataCheck);
    });
  }
}
