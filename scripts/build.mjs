#!/usr/bin/env node
// `npm run build`: generate TypeScript types from WIT (the host's into host/generated/, the guests' into
// components-wasm/generated/), compile the host (tsc), type-check and build every built-in component to Wasm
// with jco's QuickJS backend. Components are rebuilt only when their inputs change.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, isAbsolute, join } from 'node:path';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const t0 = Date.now();

/**
 * The worlds of the building-block table (host/src/building-blocks.ts), read from its source: the types
 * must exist before tsc compiles the host, and loading TypeScript to strip the table's types costs more
 * than the generation itself. Each world is a `world: '<name>'` entry of the table.
 */
function componentWorlds() {
  const source = readFileSync(join(root, 'host/src/building-blocks.ts'), 'utf8');
  const worlds = [...source.matchAll(/\bworld: '([a-z][a-z0-9-]*)'/g)].map((m) => m[1]);
  if (worlds.length === 0) throw new Error("host/src/building-blocks.ts: no world: '<name>' entries found");
  return worlds;
}

// Types for every world of the table, generated in this process (one jco load for all of them): the host's
// (what it calls a component with and gets back) and the guests' (what a component implements). Plus the
// workload world of `mortar:app` (wit/deps/app/): the host implements its imports (host/src/workloads/app-imports.ts), and
// guests and the guest SDK (sdk-guest/) call them.
const worlds = [...componentWorlds().map((w) => `mortar:component/${w}`), 'mortar:app/workload'];
const { types } = await import(pathToFileURL(join(root, 'node_modules/@bytecodealliance/jco/dist/api.js')).href);
rmSync(join(root, 'host/generated'), { recursive: true, force: true });
for (const [dir, guest] of [
  ['host/generated', false],
  ['components-wasm/generated', true],
]) {
  for (const world of worlds) {
    const files = await types(join(root, 'wit'), { worldName: world, outDir: join(root, dir), guest });
    for (const [file, bytes] of Object.entries(files)) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, bytes);
    }
  }
}
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
// The gRPC API's protos, as the official SDK (@dapr/dapr) ships them, into dist/proto (only the .proto sources
// the Dapr service needs), and parsed here into one JSON descriptor, dist/proto/dapr.json, which the host loads
// at run time (host/src/dapr-proto.ts): reading it costs about a third of parsing the .proto text at each
// start. Parsed with the protobufjs the host uses to build its codecs from it, with @grpc/proto-loader's parse
// options (camelCase), which the tests' independent reading of the .proto text uses.
const protoOut = join(root, 'dist/proto');
rmSync(protoOut, { recursive: true, force: true });
for (const dir of ['dapr/proto/runtime/v1', 'dapr/proto/common/v1', 'google/protobuf']) {
  mkdirSync(join(protoOut, dir), { recursive: true });
  for (const f of readdirSync(join(root, 'node_modules/@dapr/dapr/proto', dir)).filter((n) => n.endsWith('.proto'))) {
    copyFileSync(join(root, 'node_modules/@dapr/dapr/proto', dir, f), join(protoOut, dir, f));
  }
}
{
  const protobuf = createRequire(join(root, 'package.json'))('protobufjs');
  const protoRoot = new protobuf.Root();
  protoRoot.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(protoOut, target));
  protoRoot.loadSync('dapr/proto/runtime/v1/dapr.proto', { keepCase: false });
  protoRoot.resolveAll();
  writeFileSync(join(protoOut, 'dapr.json'), JSON.stringify(protoRoot.toJSON({ keepComments: false })));
}
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'components-wasm/tsconfig.json']);
// The guest SDK and the example workload, against the guest types of the workload world.
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'sdk-guest/tsconfig.json']);
run(process.execPath, [join(root, 'scripts/build-components.mjs')]);
run(process.execPath, [join(root, 'scripts/build-workloads.mjs')]);
console.log(`build finished in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
