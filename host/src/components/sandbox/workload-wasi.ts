/**
 * The whole import object of a workload instance: mortar's own `wasi:io`, stdio, monotonic clock
 * (`wasi-io.ts`) and `wasi:http` (`wasi-http.ts`); the Spin / wasi:keyvalue / wasi:config imports
 * (`workload-imports.ts`); `mortar:app` (`app-guest-imports.ts`); and from preview2-shim's pure-JS build the interfaces that hand out no stream
 * (random, the wall clock, the filesystem types: no directory is preopened, so no descriptor ever exists).
 * The environment is the workload's own (a Spin component's `environment`), nothing of the host's.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ByteSink, ioImports } from './wasi-io.js';
import { httpImports, type Send } from './wasi-http.js';
import { type HostCall, workloadImports } from './workload-imports.js';
import { appGuestImports } from './app-guest-imports.js';

interface ShimParts {
  random: { random: unknown; insecure: unknown; insecureSeed: unknown };
  clocks: { wallClock: unknown };
  filesystem: { types: unknown };
}

async function loadShim(): Promise<ShimParts> {
  // The package's exports map sends Node to its Node build; the browser build is loaded by file (see wasi.ts).
  const dir = join(dirname(createRequire(import.meta.url).resolve('@bytecodealliance/preview2-shim')), '..', 'browser');
  const [random, clocks, filesystem] = await Promise.all(['random', 'clocks', 'filesystem'].map((m) => import(pathToFileURL(join(dir, `${m}.js`)).href)));
  return { random, clocks, filesystem } as ShimParts;
}

/** What a workload instance's imports need from the worker. */
export interface WorkloadWasiOptions {
  readonly name: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly stdout: ByteSink;
  readonly stderr: ByteSink;
  /** The current request's deadline (`performance.now()` ms). */
  readonly deadline: () => number;
  /** Outbound HTTP (checked and performed by the host). */
  readonly send: Send;
  /** Key-value, variables, config and `mortar:app` operations (performed by the host). */
  readonly call: HostCall;
  /** The most bytes of one `mortar:app` call's arguments (`WORKLOAD_LIMITS.appCallBytes`). */
  readonly appCallBytes: number;
}

export async function workloadWasi(opts: WorkloadWasiOptions): Promise<Record<string, unknown>> {
  const shim = await loadShim();
  const env = Object.entries(opts.environment);
  return {
    ...ioImports(opts),
    ...httpImports(opts.send),
    ...workloadImports(opts.call),
    ...appGuestImports(opts.call, opts.appCallBytes),
    'wasi:cli/environment': {
      getEnvironment: () => env.map(([k, v]) => [k, v]),
      getArguments: () => [opts.name],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit: (status: { tag: string }) => {
        throw new Error(`the guest called exit (${status?.tag ?? '?'})`);
      },
    },
    'wasi:clocks/wall-clock': shim.clocks.wallClock,
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': shim.filesystem.types,
    'wasi:random/random': shim.random.random,
    'wasi:random/insecure': shim.random.insecure,
    'wasi:random/insecure-seed': shim.random.insecureSeed,
  };
}
