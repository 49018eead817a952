/**
 * `mortar component new <name> --block state|pubsub` and `mortar component build <entry> -o <file.wasm>`:
 * writing a component and building it with the toolchain and WIT that ship with mortar, from any folder.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { MortarError } from '../errors.js';
import { createLogger } from '../logger.js';
import { ComponentLoader } from '../components/component-types.js';
import { TranspileCache } from '../components/transpile-cache.js';
import {
  componentizeArgs,
  GUEST_SDK_ENTRY,
  GUEST_SDK_SPECIFIER,
  jcoCli,
  WIT_DIR,
  WORKLOAD_WORLD,
  WORLDS,
  workloadComponentizeArgs,
  type BuildBlock,
} from '../components/toolchain.js';
import { BLOCKS, COMPONENT_WORLDS } from '../building-blocks.js';
import { templateFiles, type TemplateBlock, type TemplateFile } from './component-templates.js';
import { workloadTemplateFiles } from './workload-template.js';

export const COMPONENT_USAGE = `Usage:
  mortar component new <name> --block state|pubsub [--type <type>] [--dir <parent>]
      writes <parent>/<name>/ (default: ./<name>): index.ts (a working in-memory state store or broker),
      package.json, tsconfig.json, component.yaml and types/ (TypeScript declarations of the WIT)
  mortar component new <name> --workload [--dir <parent>]
      writes a Wasm workload: index.ts (an HTTP handler using state, publish and a subscription through
      mortar:app and the guest SDK, @mortar/guest), spin.toml (for mortar up), package.json, tsconfig.json
      and types/
  mortar component build <entry.ts|.js> -o <file.wasm> [--block ${COMPONENT_WORLDS.map((w) => w.build).join('|')} | --workload]
      builds a component with mortar's own jco and wit/ (QuickJS backend, synchronous exports), checks that
      the entry exports every function of its world, and loads the result as the sidecar would
      (the block comes from --block, else the nearest package.json's "mortar": {"block"}, else the exports);
      a workload (--workload, "mortar": {"workload": true}, or an entry exporting incomingHandler) is built for
      ${WORKLOAD_WORLD} (StarlingMonkey backend) and checked to export wasi:http/incoming-handler
`;

const exec = promisify(execFile);

/** Thrown for a usage or build problem; its message is printed as is. */
class CliError extends Error {}

/** Runs `mortar component ...`; returns the exit code. */
export async function componentCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'new':
        return newComponent(rest);
      case 'build':
        return await buildComponent(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(COMPONENT_USAGE);
        return 0;
      default:
        throw new CliError(`unknown subcommand '${sub}'\n\n${COMPONENT_USAGE}`);
    }
  } catch (err) {
    if (err instanceof CliError || err instanceof TypeError) {
      // parseArgs reports unknown flags as TypeErrors with a readable message.
      process.stderr.write(`mortar component ${sub ?? ''}: ${err.message}\n`);
      return err instanceof CliError ? 1 : 2;
    }
    throw err;
  }
}

/** Component names become folder, package and type names: lowercase letters, digits and dashes. */
const NAME = /^[a-z][a-z0-9-]{0,62}$/;

function newComponent(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { block: { type: 'string' }, type: { type: 'string' }, dir: { type: 'string' }, workload: { type: 'boolean' } },
  });
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0) throw new CliError(`expected one component name\n\n${COMPONENT_USAGE}`);
  if (!NAME.test(name)) throw new CliError(`'${name}' is not a valid name: use lowercase letters, digits and dashes, starting with a letter`);
  if (values.workload) {
    if (values.block || values.type) throw new CliError('--workload takes no --block or --type (a workload is no component of a block)');
    const target = emptyTarget(values.dir, name);
    writeFiles(target, workloadTemplateFiles(name, GUEST_SDK_ENTRY));
    writeGuestTypes(WORKLOAD_WORLD, join(target, 'types'));
    const rel = relative(process.cwd(), target) || '.';
    process.stdout.write(
      `created ${rel}/ (workload, world ${WORKLOAD_WORLD})\n` +
        `  cd ${rel} && mortar component build index.ts -o ${name}.wasm\n` +
        '  then: mortar up   (spin.toml: the workload on 127.0.0.1:3000, the Dapr API on 3500)\n',
    );
    return 0;
  }
  const block = values.block as TemplateBlock | undefined;
  if (block !== 'state' && block !== 'pubsub') throw new CliError(`--block must be state or pubsub${block ? ` (got '${block}')` : ''}`);
  const type = values.type ?? `${block}.${name}`;
  if (!type.startsWith(`${block}.`) || !/^[a-z0-9]+\.[A-Za-z0-9._-]+$/.test(type)) throw new CliError(`--type '${type}' must look like ${block}.<name>`);
  const target = emptyTarget(values.dir, name);
  writeFiles(target, templateFiles(name, block, type));
  writeGuestTypes(`mortar:component/${WORLDS[block]}`, join(target, 'types'));
  const rel = relative(process.cwd(), target) || '.';
  process.stdout.write(
    `created ${rel}/ (${type}, world ${WORLDS[block]})\n` +
      `  cd ${rel} && mortar component build index.ts -o ${name}.wasm\n` +
      `  then put ${name}.wasm and component.yaml in a folder and run: mortar run --resources-path <folder>\n`,
  );
  return 0;
}

/** The folder `<parent>/<name>` for a new component: it must not exist, or be an empty folder. */
function emptyTarget(parent: string | undefined, name: string): string {
  const target = resolve(parent ?? '.', name);
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0)) {
    throw new CliError(`${target} already exists and is not empty`);
  }
  return target;
}

function writeFiles(target: string, files: readonly TemplateFile[]): void {
  for (const f of files) {
    const path = join(target, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.text);
  }
}

/** Writes the TypeScript declarations of `world`'s interfaces (what `import ... from 'mortar:...'` sees); `world` is qualified (`mortar:app/workload`). */
function writeGuestTypes(world: string, out: string): void {
  // Synchronous on purpose: `new` is a one-shot command and this takes about a second.
  const r = spawnSync(process.execPath, [jcoCli(), 'guest-types', WIT_DIR, '--world-name', world, '-o', out, '--quiet'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new CliError(`could not write the WIT's TypeScript declarations: ${r.stderr}`);
}

async function buildComponent(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { out: { type: 'string', short: 'o' }, block: { type: 'string' }, workload: { type: 'boolean' } },
  });
  const [entryArg, ...extra] = positionals;
  if (!entryArg || extra.length > 0) throw new CliError(`expected one entry file\n\n${COMPONENT_USAGE}`);
  if (!values.out) throw new CliError('-o <file.wasm> is required');
  const entry = resolve(entryArg);
  if (!existsSync(entry)) throw new CliError(`${entryArg}: no such file`);
  const out = resolve(values.out);
  if (values.workload && values.block) throw new CliError('--workload and --block exclude each other');
  if (values.workload || (!values.block && isWorkload(entry))) return buildWorkload(entryArg, entry, out);
  const block = blockFor(entry, values.block);
  const world = WORLDS[block];

  const work = mkdtempSync(join(tmpdir(), 'mortar-build-'));
  try {
    const wrapper = join(work, 'entry.ts');
    writeFileSync(wrapper, exportCheck(entry, world));
    // The WIT imports are resolved by the component model, not the bundler: keep them out of the bundle.
    const bundleConfig = join(work, 'bundle.config.mjs');
    writeFileSync(bundleConfig, 'export default { external: [/^mortar:/, /^wasi:/] };\n');
    mkdirSync(dirname(out), { recursive: true });
    const t0 = Date.now();
    await componentize(
      componentizeArgs(wrapper, world, out, ['--bundle-config', bundleConfig]),
      entryArg,
      entry,
      world,
      (missing) => `${entryArg} does not implement the ${world} world: ${missing}`,
    );
    const built = Date.now() - t0;
    const summary = await verify(out, work);
    process.stdout.write(
      `built ${relative(process.cwd(), out) || out} (${world}, ${(statSync(out).size / 1e6).toFixed(1)} MB, ${(built / 1000).toFixed(1)}s): ${summary}\n`,
    );
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The block to build for: `--block`, else the nearest package.json's `"mortar": {"block"}`, else what the
 * entry exports (see `worldExported`).
 */
function blockFor(entry: string, flag: string | undefined): BuildBlock {
  const check = (b: string, where: string): BuildBlock => {
    if (!(b in WORLDS)) throw new CliError(`${where}: block '${b}' is not one of ${Object.keys(WORLDS).join(', ')}`);
    return b as BuildBlock;
  };
  if (flag) return check(flag, '--block');
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const block = (JSON.parse(readFileSync(pkg, 'utf8')) as { mortar?: { block?: string } }).mortar?.block;
      if (block) return check(block, pkg);
      break;
    }
    if (dirname(dir) === dir) break;
  }
  return worldExported(readFileSync(entry, 'utf8'));
}

/**
 * The world of the building-block table an entry's source implements, from the export objects it declares
 * (jco's names: `stateStore`, `readPlan`, `pubsub`, ...): of the worlds it exports everything of, the one
 * with the most exports (`stateStore` and `readPlan`: planned-state); else the one it exports most of; else a
 * state store.
 */
export function worldExported(src: string): BuildBlock {
  let best: { build: BuildBlock; complete: boolean; found: number } | undefined;
  for (const w of COMPONENT_WORLDS) {
    const interfaces: Readonly<Record<string, string>> = BLOCKS[w.block].interfaces;
    const found = w.exports.filter((i) => new RegExp(`export\\s+(const|let|var|function)\\s+${interfaces[i]}\\b`).test(src)).length;
    const complete = found === w.exports.length;
    if (found > 0 && (!best || (complete && !best.complete) || (complete === best.complete && found > best.found))) best = { build: w.build, complete, found };
  }
  return best?.build ?? 'state';
}

/**
 * A wrapper entry that re-exports `entry` after checking, when the build evaluates it, that every function
 * of `world`'s exported interfaces is there: componentize accepts a module that lacks one, and the
 * component would then trap on the first call to it.
 */
function exportCheck(entry: string, world: string, required: Record<string, string[]> = worldExports(world)): string {
  return `import * as component from ${JSON.stringify(entry)};
const required: Record<string, string[]> = ${JSON.stringify(required)};
const missing: string[] = [];
for (const [iface, fns] of Object.entries(required)) {
  const obj = (component as Record<string, unknown>)[iface] as Record<string, unknown> | undefined;
  if (obj === undefined || obj === null) missing.push(\`export const \${iface}\`);
  else for (const f of fns) if (typeof obj[f] !== 'function') missing.push(\`\${iface}.\${f}\`);
}
if (missing.length > 0) throw new Error(\`MORTAR-EXPORTS: missing \${missing.join(', ')}\`);
export * from ${JSON.stringify(entry)};
`;
}

/** The JS export names of `world` (camelCased interfaces) and the functions of each, read from the WIT. */
export function worldExports(world: string): Record<string, string[]> {
  const wit = readdirSync(WIT_DIR)
    .filter((f) => f.endsWith('.wit'))
    .map((f) => readFileSync(join(WIT_DIR, f), 'utf8'))
    .join('\n');
  const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const block = (kind: 'world' | 'interface', name: string): string => {
    const start = new RegExp(`^${kind} ${name} \\{`, 'm').exec(wit);
    if (!start) throw new CliError(`${kind} ${name} is not in ${WIT_DIR}`);
    // Top-level WIT items close with a '}' at the start of a line.
    const end = wit.indexOf('\n}', start.index);
    return wit.slice(start.index, end);
  };
  const exportsOf = (w: string): string[] => {
    const body = block('world', w);
    const included = [...body.matchAll(/^\s*include ([a-z-]+);/gm)].flatMap((m) => exportsOf(m[1]!));
    return [...included, ...[...body.matchAll(/^\s*export ([a-z-]+);/gm)].map((m) => m[1]!)];
  };
  const out: Record<string, string[]> = {};
  for (const iface of exportsOf(world)) {
    out[camel(iface)] = [...block('interface', iface).matchAll(/^\s*([a-z][a-z0-9-]*): func\(/gm)].map((m) => camel(m[1]!));
  }
  return out;
}

/** Loads `wasm` as the sidecar does (transpile, checks, `describe()` in a sandbox); returns what it declares. */
async function verify(wasm: string, work: string): Promise<string> {
  const loader = new ComponentLoader(new TranspileCache(join(work, 'cache')), createLogger('silent'), 10_000, 256 * 1024 * 1024);
  try {
    const mod = await loader.load(wasm, false);
    return `${mod.block} component ${mod.descriptor.types.join(', ')} ${mod.descriptor.version}`;
  } catch (err) {
    if (err instanceof MortarError) throw new CliError(`built, but the sidecar would refuse it: ${err.message}`);
    throw err;
  }
}

/**
 * Whether `entry` is a workload: the nearest package.json says `"mortar": {"workload": true}`, or (with no
 * `mortar` key there) the entry exports `incomingHandler`.
 */
function isWorkload(entry: string): boolean {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const m = (JSON.parse(readFileSync(pkg, 'utf8')) as { mortar?: { workload?: unknown; block?: unknown } }).mortar;
      if (m?.workload === true) return true;
      if (m !== undefined) return false;
      break;
    }
    if (dirname(dir) === dir) break;
  }
  return /export\s+(const|let|var|function)\s+incomingHandler\b/.test(readFileSync(entry, 'utf8'));
}

/** The `wasi:http/incoming-handler` export a workload must have (any 0.2.x). */
const INCOMING_HANDLER = /^\s*export wasi:http\/incoming-handler@0\.2\.\d+;$/m;

/**
 * Runs `jco componentize` with `args` in the folder of `entry`. A failure becomes a CliError: `notImplemented(missing)`
 * when the export check names missing exports, otherwise the build output under "building `entryArg` for the `world`
 * world failed".
 */
async function componentize(args: string[], entryArg: string, entry: string, world: string, notImplemented: (missing: string) => string): Promise<void> {
  try {
    await exec(process.execPath, [jcoCli(), ...args], { cwd: dirname(entry), maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    const missing = /MORTAR-EXPORTS: ([^\n]*)/.exec(output)?.[1];
    if (missing) throw new CliError(notImplemented(missing));
    throw new CliError(`building ${entryArg} for the ${world} world failed:\n${output.trim() || e.message}`);
  }
}

/**
 * Builds a workload (`mortar:app/workload`) with the guest SDK resolved from this package, checks that the
 * entry exports `incomingHandler.handle` and that the component exports `wasi:http/incoming-handler`.
 */
async function buildWorkload(entryArg: string, entry: string, out: string): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'mortar-build-'));
  try {
    const wrapper = join(work, 'entry.ts');
    writeFileSync(wrapper, exportCheck(entry, WORKLOAD_WORLD, { incomingHandler: ['handle'] }));
    // WIT imports are resolved by the component model; the SDK is the one shipped with mortar.
    const bundleConfig = join(work, 'bundle.config.mjs');
    writeFileSync(
      bundleConfig,
      `export default { external: [/^mortar:/, /^wasi:/], resolve: { alias: { ${JSON.stringify(GUEST_SDK_SPECIFIER)}: ${JSON.stringify(GUEST_SDK_ENTRY)} } } };\n`,
    );
    mkdirSync(dirname(out), { recursive: true });
    const t0 = Date.now();
    await componentize(
      workloadComponentizeArgs(wrapper, out, ['--bundle-config', bundleConfig]),
      entryArg,
      entry,
      WORKLOAD_WORLD,
      (missing) => `${entryArg} is no workload: ${missing} (export const incomingHandler = serve(router))`,
    );
    const built = Date.now() - t0;
    const { componentWit } = await import('@bytecodealliance/jco');
    const wit = await componentWit(readFileSync(out));
    const handler = INCOMING_HANDLER.exec(wit)?.[0]
      .trim()
      .replace(/^export |;$/g, '');
    if (!handler) throw new CliError(`built ${out}, but it does not export wasi:http/incoming-handler@0.2.x`);
    const app = [...wit.matchAll(/^\s*import (mortar:app\/[a-z-]+)@[^;]+;$/gm)].map((m) => m[1]!);
    process.stdout.write(
      `built ${relative(process.cwd(), out) || out} (workload, ${(statSync(out).size / 1e6).toFixed(1)} MB, ${(built / 1000).toFixed(1)}s): ` +
        `exports ${handler}; imports ${app.join(', ')}\n`,
    );
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
