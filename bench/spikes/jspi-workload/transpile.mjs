// Step 1 of the JSPI spike (README.md): `node transpile.mjs [guest]` transpiles a test guest (default
// `quickjs-http`; `wat-http` also serves `/kv`) with jco's `asyncMode: 'jspi'` (its
// `bucket.get` import and its `handle` export async), patches the glue as mortar patches its own
// (`patchGlue`), and writes it with its core modules to `art/` beside this file. Runs on any Node.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transpile } from '@bytecodealliance/jco';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const { patchGlue } = await import(join(root, 'dist/host/src/components/transpile-cache.js'));
const guest = process.argv[2] ?? 'quickjs-http';
const out = await transpile(await readFile(join(root, `dist/test-workloads/${guest}.wasm`)), {
  name: 'component',
  instantiation: 'async',
  noTypescript: true,
  quiet: true,
  asyncMode: 'jspi',
  asyncImports: ['wasi:keyvalue/store@0.2.0-draft2#[method]bucket.get'],
  asyncExports: ['wasi:http/incoming-handler@0.2.12#handle'],
});
const art = join(here, 'art');
rmSync(art, { recursive: true, force: true });
for (const [name, content] of Object.entries(out.files)) {
  if (name.endsWith('.d.ts')) continue;
  const file = join(art, name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, name === 'component.js' ? patchGlue(Buffer.from(content).toString('utf8')) : content);
}
// Which guest art/ holds: drive.mjs checks it against the guest it is told to run.
writeFileSync(join(art, 'guest'), guest);
console.log(`jspi-workload: wrote ${art} (${guest})`);
