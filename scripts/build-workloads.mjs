#!/usr/bin/env node
// Builds the test workloads of `test/fixtures/workloads/` into `dist/test-workloads/<name>.wasm`: Wasm HTTP
// apps (components exporting wasi:http/incoming-handler) that the workload engine's tests and bench run.
// - spin-sdk-v2, spin-http-ts: Spin apps, each its own npm project with a lock file, built the way Spin's
//   JavaScript SDKs build (StarlingMonkey, via their pinned componentize-js): `npm ci` in the folder, then its
//   `build.mjs`;
// - quickjs-http: `jco componentize --backend quickjs` (as mortar's built-ins are built), then its package
//   `wasi:htqp` is renamed to `wasi:http` (see its wit/deps/http/http.wit for why);
// - wat-http: its `guest.wat` assembled, its WIT embedded and made a component with jco's wasm-tools (`parse`,
//   `componentEmbed`, `componentNew`), then renamed as quickjs-http is.
// A workload is rebuilt only when the hash of its inputs (sources, WIT, lock file, build script, jco version)
// changed, as scripts/build-components.mjs does.
// MORTAR_SKIP_TEST_WORKLOADS=1 skips them all: the container image's build (Containerfile) sets it, as the
// image ships none of them and their builds (an `npm ci` per Spin app, StarlingMonkey) are most of its build time.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const base = join(root, 'test/fixtures/workloads');
const outDir = join(root, 'dist/test-workloads');
const exec = promisify(execFile);
const jco = join(root, 'node_modules/@bytecodealliance/jco/dist/jco.js');
const jcoVersion = JSON.parse(readFileSync(join(root, 'node_modules/@bytecodealliance/jco/package.json'), 'utf8')).version;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Source files of a workload folder (not its node_modules, build output or componentize's scratch files). */
function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    if (n === 'node_modules' || n === 'build' || n.startsWith('precompiled-source') || n.endsWith('.buildData.json')) return [];
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function hashOf(paths) {
  const h = createHash('sha256')
    .update(jcoVersion)
    .update(readFileSync(fileURLToPath(import.meta.url)));
  for (const p of paths.sort()) h.update(relative(root, p)).update(readFileSync(p));
  return h.digest('hex');
}

/** Renames the same-length package name `from` to `to` everywhere in a component's bytes. */
function rename(bytes, from, to) {
  const a = Buffer.from(from);
  const b = Buffer.from(to);
  if (a.length !== b.length) throw new Error('rename: names must have the same length');
  let n = 0;
  for (let i = bytes.indexOf(a); i >= 0; i = bytes.indexOf(a, i + a.length)) {
    b.copy(bytes, i);
    n++;
  }
  return n;
}

/** A component of quickjs-http's WIT, its package `wasi:htqp` renamed to `wasi:http` (see that WIT for why). */
function renamedHtqp(name, bytes) {
  if (rename(bytes, 'wasi:htqp', 'wasi:http') === 0) throw new Error(`${name}: no wasi:htqp to rename`);
  return bytes;
}

const run = (cmd, args, cwd) => exec(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 });

async function build(name) {
  const dir = join(base, name);
  const out = join(outDir, `${name}.wasm`);
  const stamp = `${out}.inputs`;
  const hash = hashOf(files(dir));
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return false;
  const t0 = Date.now();
  try {
    if (existsSync(join(dir, 'guest.wat'))) {
      const { componentEmbed, componentNew, parse } = await import('@bytecodealliance/jco');
      const core = await parse(readFileSync(join(dir, 'guest.wat'), 'utf8'));
      const embedded = await componentEmbed({ binary: core, witPath: join(dir, 'wit'), world: 'guest' });
      writeFileSync(out, renamedHtqp(name, Buffer.from(await componentNew(embedded))));
    } else if (existsSync(join(dir, 'package.json'))) {
      // The app's own dependencies, exactly as locked (no install scripts: none of them needs one).
      await run(npm, ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
      await run(process.execPath, [join(dir, 'build.mjs'), out], dir);
    } else {
      await run(
        process.execPath,
        [
          jco,
          'componentize',
          join(dir, 'index.js'),
          '--wit',
          join(dir, 'wit'),
          '--world-name',
          'guest',
          '--backend',
          'quickjs',
          '--backend-qjs-disable-async',
          '-o',
          out,
        ],
        root,
      );
      writeFileSync(out, renamedHtqp(name, readFileSync(out)));
    }
  } catch (err) {
    process.stderr.write(`building workload ${name} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}\n`);
    throw err;
  }
  writeFileSync(stamp, hash);
  console.log(`built ${relative(root, out)} (${(statSync(out).size / 1e6).toFixed(3)} MB, ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  return true;
}

if (process.env.MORTAR_SKIP_TEST_WORKLOADS === '1') {
  console.log('test workloads: skipped (MORTAR_SKIP_TEST_WORKLOADS=1)');
} else if (existsSync(base)) {
  mkdirSync(outDir, { recursive: true });
  const names = readdirSync(base).filter((n) => existsSync(join(base, n, 'index.js')) || existsSync(join(base, n, 'guest.wat')));
  let built = 0;
  // One at a time: each StarlingMonkey build uses both cores.
  for (const n of names) if (await build(n)) built++;
  console.log(`test workloads: ${built} built, ${names.length - built} up to date`);
}
