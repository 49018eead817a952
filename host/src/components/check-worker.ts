/**
 * Entry point of the check thread (see `check-thread.ts`): parses resource YAML files and validates a
 * resource's metadata against its component's schema, telling the main thread each value a `pattern` is
 * about to be tested on, so that a check that never ends can be blamed on its field.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { MetadataValidator, SchemaError as SchemaErrorT } from './metadata-schema.js';
import type { CheckThreadKind, FromCheckThread, ToCheckThread } from './check-thread.js';

// The thread's CPU priority, for this thread alone (on Linux, niceness is per thread). The schema-check
// thread runs at nice 10: a check that spins until it is cut off yields most of the CPU to the API thread,
// yet a valid check on a busy machine still gets enough of it to finish within its limit (at 19 it did
// not). The YAML thread keeps the normal priority: at 19 a busy machine starved it and hot reloads took
// longer than their 2 s.
const { nice, kind } = workerData as { nice: number; kind: CheckThreadKind };
if (nice !== 0)
  try {
    setPriority(nice);
  } catch {
    /* not permitted here: the time limit still bounds a check */
  }

const port = parentPort!;
const post = (m: FromCheckThread) => port.postMessage(m);
let current = 0;
// Each thread loads only what its tasks need (ajv for schemas, yaml for files), and loads it before it says
// it is ready: the time limit on a check counts from then, so it must not include loading ajv.
let validator: MetadataValidator | undefined;
const WARM_UP_SCHEMA = JSON.stringify({ type: 'object', properties: { a: { type: 'string', pattern: '^a$', maxLength: 9 } }, required: ['a'] });
let SchemaError: typeof SchemaErrorT | undefined;
if (kind === 'schema') {
  const m = await import('./metadata-schema.js');
  SchemaError = m.SchemaError;
  validator = new m.MetadataValidator((value) => post({ op: 'pattern', id: current, value }));
  // ajv's first compile costs about as much again as loading it (lazily loaded parts, cold code): pay it here.
  new m.MetadataValidator(() => undefined).validate(WARM_UP_SCHEMA, { a: 'a' });
} else {
  await import('../resources/resources.js');
}

port.on('message', (m: ToCheckThread) => void handle(m));

async function handle(m: ToCheckThread): Promise<void> {
  current = m.id;
  try {
    if (m.op === 'parse') {
      const { parseResources } = await import('../resources/resources.js');
      post({ op: 'parsed', id: m.id, result: parseResources(m.file, m.text) });
    } else {
      if (validator === undefined) throw new Error('this check thread does not validate schemas');
      post({ op: 'validated', id: m.id, result: validator.validate(m.schema, m.metadata) });
    }
  } catch (err) {
    post({
      op: 'failed',
      id: m.id,
      schemaError: SchemaError !== undefined && err instanceof SchemaError,
      message: err instanceof Error ? err.message : String(err),
    });
  }
}
post({ op: 'ready' });
