#!/usr/bin/env node
// Builds each `components-wasm/<type>/index.ts` (and the test fixtures in `test/fixtures/components/`)
// into a Wasm component with `jco componentize --backend quickjs`. A component is rebuilt only when the
// hash of its inputs (its sources, the shared lib, the WIT and the jco version) changed. Then the built-ins
// are transpiled and described into `dist/components/transpiled/` (host/src/components/prebuild.ts), so a
// sidecar never transpiles them at run time; the test fixtures stay plain `.wasm`, as a user's would be.
// Needs the host compiled first (`npm run build` runs tsc before this).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The componentize command line (QuickJS flags, wit/) is the one `mortar component build` uses; tsc has
// compiled it by the time this runs (scripts/build.mjs).
const { componentizeArgs } = await import(pathToFileURL(join(root, 'dist/host/src/components/toolchain.js')).href);
const { BUILDING_BLOCKS, COMPONENT_WORLDS } = await import(pathToFileURL(join(root, 'dist/host/src/building-blocks.js')).href);
// scripts/build.mjs generated the WIT types of the worlds it read from the table's source; a world it missed
// (the table no longer spells it `world: '<name>'`) would leave the host compiled against stale types.
for (const { world } of COMPONENT_WORLDS) {
  if (!existsSync(join(root, 'host/generated', `${world}.d.ts`)))
    throw new Error(`host/generated/${world}.d.ts is missing: scripts/build.mjs did not read world '${world}' from host/src/building-blocks.ts`);
}
const jco = join(root, 'node_modules/@bytecodealliance/jco/dist/jco.js');
const jcoVersion = JSON.parse(readFileSync(join(root, 'node_modules/@bytecodealliance/jco/package.json'), 'utf8')).version;

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function hashOf(paths) {
  const h = createHash('sha256').update(jcoVersion);
  for (const p of paths.sort()) h.update(relative(root, p)).update(readFileSync(p));
  return h.digest('hex');
}

const targets = [];
const shared = [...files(join(root, 'components-wasm/lib')), ...files(join(root, 'wit'))];
for (const [srcDir, outDir] of [
  ['components-wasm', 'dist/components'],
  ['test/fixtures/components', 'dist/test-components'],
]) {
  const base = join(root, srcDir);
  if (!existsSync(base)) continue;
  for (const name of readdirSync(base)) {
    const entry = join(base, name, 'index.ts');
    if (!existsSync(entry)) continue;
    targets.push({ name, entry, out: join(root, outDir, `${name}.wasm`), inputs: [...files(join(base, name)), ...shared] });
  }
}

const exec = promisify(execFile);

/**
 * The world a component implements: the `// world: <name>` line of its entry file when it has one (a
 * planned state store, a binding that only sends or only receives), else the default world of its block
 * (host/src/building-blocks.ts), from the folder name's prefix.
 */
function worldOf(t) {
  const m = /^\/\/ world: ([a-z-]+)\s*$/m.exec(readFileSync(t.entry, 'utf8'));
  if (m) return m[1];
  const world = BUILDING_BLOCKS.find((b) => t.name.startsWith(b.typePrefix))?.defaultWorld;
  if (!world) throw new Error(`${relative(root, t.entry)}: no '// world: <name>' line and no block for the prefix of '${t.name}'`);
  return world;
}
let built = 0;
async function build(t) {
  const stamp = `${t.out}.inputs`;
  const hash = hashOf(t.inputs);
  if (existsSync(t.out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return;
  mkdirSync(dirname(t.out), { recursive: true });
  const t0 = Date.now();
  try {
    await exec(process.execPath, [jco, ...componentizeArgs(t.entry, worldOf(t), t.out)], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    process.stderr.write(`componentize ${t.name} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}\n`);
    throw err;
  }
  writeFileSync(stamp, hash);
  built++;
  console.log(`built ${relative(root, t.out)} (${(statSync(t.out).size / 1e6).toFixed(1)} MB, ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

// Two at a time: componentize is CPU-bound and the machines have two cores.
const queue = [...targets];
await Promise.all(
  [0, 1].map(async () => {
    while (queue.length) await build(queue.shift());
  }),
);
console.log(`components: ${built} built, ${targets.length - built} up to date`);

const prebuild = join(root, 'dist/host/src/components/prebuild.js');
if (!existsSync(prebuild)) throw new Error(`${relative(root, prebuild)} is missing: compile the host first (npm run build)`);
const { prebuildComponents } = await import(prebuild);
const t0 = Date.now();
const prebuilt = await prebuildComponents(join(root, 'dist/components'));
const fresh = prebuilt.filter((p) => p.origin === 'transpiled');
for (const p of fresh) console.log(`transpiled ${relative(root, p.file)} (${p.types.join(', ')})`);
console.log(`built-ins prebuilt: ${fresh.length} transpiled, ${prebuilt.length - fresh.length} up to date (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
