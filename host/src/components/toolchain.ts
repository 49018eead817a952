/**
 * How a mortar component is built: the one place that says which jco, which WIT and which flags.
 *
 * The sidecar runs components through jco's transpiled glue with a synchronous QuickJS guest, so a
 * component must be built with jco's QuickJS backend and async disabled, against this package's own
 * `wit/`. `scripts/build-components.mjs` (the built-ins) and `mortar component build` (a user's
 * component) both take their command line from here.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCKS, COMPONENT_WORLDS, type BuildName } from '../building-blocks.js';

/** What `mortar component build --block` takes (`state`, `planned-state`, ...): a world of the building-block table. */
export type BuildBlock = BuildName;

/** The WIT world each build name stands for (`planned-state` -> `planned-state-store-component`), from the building-block table. */
export const WORLDS = Object.fromEntries(COMPONENT_WORLDS.map((w) => [w.build, w.world])) as Readonly<Record<BuildBlock, string>>;

/**
 * The flags that make a component the sidecar can run: the QuickJS engine (StarlingMonkey, jco's default,
 * imports `wasi:http`, which the sandbox does not offer) and synchronous exports (an async build runs too,
 * on Node's JSPI, but each call then goes through a suspendable stack it never uses: the host's imports block).
 */
export const QUICKJS_FLAGS: readonly string[] = ['--backend', 'quickjs', '--backend-qjs-disable-async'];

/** The root of the mortar package (holds `wit/`, `bin/`, `dist/`), wherever it is installed (this file is dist/host/src/components/). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** The WIT folder components are built against: the package's own, shipped with it. */
export const WIT_DIR = join(PACKAGE_ROOT, 'wit');

/** The jco command-line entry point of the jco this package depends on (pinned in package.json). */
export function jcoCli(): string {
  // The package's main export is dist/api.js; the CLI sits beside it.
  return join(dirname(createRequire(import.meta.url).resolve('@bytecodealliance/jco')), 'jco.js');
}

/** The arguments after `node <jco.js>` that build `entry` into the component `out` for `world`. */
export function componentizeArgs(entry: string, world: string, out: string, extra: readonly string[] = []): string[] {
  return ['componentize', entry, '--wit', WIT_DIR, '--world-name', world, ...QUICKJS_FLAGS, ...extra, '-o', out];
}

/** What to tell someone whose `.wasm` was not built the way the sidecar runs components. */
export const HOW_TO_BUILD =
  'build it with `mortar component build <entry.ts> -o <file>.wasm` ' +
  "(jco componentize --backend quickjs --backend-qjs-disable-async against mortar's wit/, world " +
  `${BLOCKS.state.defaultWorld} or ${BLOCKS.pubsub.defaultWorld})`;

/** The world a Wasm workload implements (wit/deps/app/app.wit): `mortar:app` imports, `wasi:http/incoming-handler` export. */
export const WORKLOAD_WORLD = 'mortar:app/workload';

/** The module name workloads import the guest SDK by. */
export const GUEST_SDK_SPECIFIER = '@mortar/guest';

/** The guest SDK's entry, what `GUEST_SDK_SPECIFIER` resolves to in a workload's build (sdk-guest/, shipped with the package). */
export const GUEST_SDK_ENTRY = join(PACKAGE_ROOT, 'sdk-guest/src/index.ts');

/**
 * The componentize flags of a workload: jco's StarlingMonkey engine (its default backend), with its own
 * `fetch-event` handler off, so the module's `incomingHandler` export is the component's
 * `wasi:http/incoming-handler`, and its `fetch` off (`http`), so the component imports no
 * `wasi:http/outgoing-handler` (outbound HTTP for workloads comes with the engine's allow-list).
 *
 * Not the QuickJS backend of the built-ins: componentize-qjs 0.4.5 pre-initialises a component in a wasmtime
 * linker that stubs every interface it does not implement with fresh resource types, and it implements
 * `wasi:io` but not `wasi:http`, so the stubbed `wasi:http/types` (whose `input-stream` is `wasi:io`'s) fails to
 * link: "instance export `input-stream` has the wrong type: mismatched resource types". A workload builds for
 * QuickJS unchanged once componentize-qjs links `wasi:http` or leaves it unstubbed (the world and the SDK
 * need no change: the SDK carries its own UTF-8 for QuickJS, which has no TextEncoder).
 */
export const WORKLOAD_FLAGS: readonly string[] = ['--disable', 'fetch-event', '--disable', 'http'];

/** The arguments after `node <jco.js>` that build the workload `entry` into the component `out`. */
export function workloadComponentizeArgs(entry: string, out: string, extra: readonly string[] = []): string[] {
  return ['componentize', entry, '--wit', WIT_DIR, '--world-name', WORKLOAD_WORLD, ...WORKLOAD_FLAGS, ...extra, '-o', out];
}
