/**
 * Entry point of the check thread (see `check-thread.ts`): parses resource YAML files and validates a
 * resource's metadata against its component's schema, telling the main thread each value a `pattern` is
 * about to be tested on, so that a check that never ends can be blamed on its field.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { MetadataValidator } from './metadata-schema.js';
import type { FromCheckThread, ToCheckThread } from './check-thread.js';

// The thread's CPU priority, for this thread alone (on Linux, niceness is per thread). The schema-check
// thread runs at nice 19: a check that spins until it is cut off takes CPU only when the API thread does
// not want it. The YAML thread keeps the normal priority: at 19 a busy machine starved it and hot reloads
// took longer than their 2 s.
const nice = (workerData as { nice: number }).nice;
if (nice !== 0) try { setPriority(nice); } catch { /* not permitted here: the time limit still bounds a check */ }

const port = parentPort!;
const post = (m: FromCheckThread) => port.postMessage(m);
let current = 0;
// Each thread loads only what its tasks need (ajv for schemas, yaml for files).
let validator: MetadataValidator | undefined;
const schema = () => import('./metadata-schema.js');

port.on('message', (m: ToCheckThread) => void handle(m));

async function handle(m: ToCheckThread): Promise<void> {
  current = m.id;
  const { SchemaError, MetadataValidator } = await schema();
  try {
    if (m.op === 'parse') {
      const { parseResources } = await import('./resources.js');
      post({ op: 'parsed', id: m.id, result: parseResources(m.file, m.text) });
    } else {
      validator ??= new MetadataValidator((value) => post({ op: 'pattern', id: current, value }));
      post({ op: 'validated', id: m.id, result: validator.validate(m.schema, m.metadata) });
    }
  } catch (err) {
    post({ op: 'failed', id: m.id, schemaError: err instanceof SchemaError, message: err instanceof Error ? err.message : String(err) });
  }
}
post({ op: 'ready' });
