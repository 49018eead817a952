#!/usr/bin/env node
// `npm run build`: generate guest types from WIT, compile the host (tsc), type-check and build every
// built-in component to Wasm with jco's QuickJS backend. Components are rebuilt only when their inputs change.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const t0 = Date.now();
for (const world of ['state-store-component', 'planned-state-store-component', 'pubsub-component', 'output-binding-component', 'input-binding-component', 'binding-component']) {
  run(process.execPath, [join(root, 'node_modules/@bytecodealliance/jco/dist/jco.js'), 'guest-types', 'wit', '--world-name', `mortar:component/${world}`, '-o', 'components-wasm/generated', '--quiet']);
}
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'components-wasm/tsconfig.json']);
run(process.execPath, [join(root, 'scripts/build-components.mjs')]);
console.log(`build finished in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
