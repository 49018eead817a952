/**
 * Entry point of the metadata check thread (see `metadata-check-thread.ts`): compiles a component's schema
 * and validates one resource's metadata against it, telling the main thread each value a `pattern` is
 * about to be tested on, so that a check that never ends can be blamed on its field.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { MetadataValidator, SchemaError } from './metadata-schema.js';
import type { FromMetadataCheck, ToMetadataCheck } from './metadata-check-thread.js';

// Lowest CPU priority for this thread alone (on Linux, niceness is per thread): a check that spins until
// it is cut off then takes CPU only when the API thread does not want it.
try { setPriority(19); } catch { /* not permitted here: the time limit still bounds the check */ }

const port = parentPort!;
const post = (m: FromMetadataCheck) => port.postMessage(m);
let current = 0;
const validator = new MetadataValidator((value) => post({ op: 'pattern', id: current, value }));

port.on('message', (m: ToMetadataCheck) => {
  current = m.id;
  try {
    post({ op: 'result', id: m.id, result: validator.validate(m.schema, m.metadata) });
  } catch (err) {
    post({ op: 'failed', id: m.id, schemaError: err instanceof SchemaError, message: err instanceof Error ? err.message : String(err) });
  }
});
post({ op: 'ready' });
