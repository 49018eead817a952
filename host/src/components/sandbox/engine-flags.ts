import { setFlagsFromString } from 'node:v8';

/**
 * QuickJS components use Wasm extended constant expressions, which V8 enables by default only from
 * Node 22. V8 flags are process-wide, so setting it here, before any component is compiled, covers the
 * main thread and every sandbox worker alike (no re-exec, no `--experimental-*` on the command line).
 */
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) setFlagsFromString('--experimental-wasm-extended-const');
