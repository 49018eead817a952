/**
 * The WASI preview 2 a sandboxed instance gets: no environment, no preopened directories, no sockets, no
 * HTTP, stdin closed; clocks and random work; stdout and stderr become log lines of the component.
 *
 * The interfaces come from preview2-shim's pure-JS implementation (the one it ships for browsers), not its
 * Node one: the Node implementation starts a helper thread of its own in every isolate that loads it (about
 * 12 MB and one more thread per instance, for file and socket I/O a sandbox never does), and its stdout
 * and stderr write to the process directly, outside the logs.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lineSink } from './wasi-io.js';

/** The parts of preview2-shim's browser build used here. */
interface Preview2Js {
  cli: {
    createCli(config: {
      environment?: Record<string, string>;
      arguments?: string[];
      initialCwd?: string;
      stdout?: OutputSink;
      stderr?: OutputSink;
    }): Record<string, unknown>;
  };
  clocks: { monotonicClock: unknown; wallClock: unknown };
  filesystem: { types: unknown };
  io: { error: unknown; poll: unknown; streams: unknown };
  random: { random: unknown; insecure: unknown; insecureSeed: unknown };
  sockets: Record<string, unknown>;
}

interface OutputSink {
  write(bytes: Uint8Array): void;
  flush?(): void;
  blockingFlush?(): void;
  drop?(): void;
}

/** Where the component's stdout and stderr lines go. */
export type OutputLine = (stream: 'stdout' | 'stderr', line: string) => void;

/** The interfaces offered, each a module of the browser build (its `http` is not loaded: not offered). */
const MODULES = ['cli', 'clocks', 'filesystem', 'io', 'random', 'sockets'] as const;

async function loadShim(): Promise<Preview2Js> {
  // The package's exports map sends Node to its Node build; the browser build is loaded by file.
  const dir = join(dirname(createRequire(import.meta.url).resolve('@bytecodealliance/preview2-shim')), '..', 'browser');
  const loaded = await Promise.all(MODULES.map((m) => import(pathToFileURL(join(dir, `${m}.js`)).href)));
  return Object.fromEntries(MODULES.map((m, i) => [m, loaded[i]])) as unknown as Preview2Js;
}

/** stdout or stderr of an instance: lines (see `lineSink`), flushed by every flush and at the stream's drop. */
function outputLines(emit: (line: string) => void): OutputSink {
  const sink = lineSink(emit);
  const flush = () => sink.flush();
  return { write: (bytes) => sink.write(bytes), flush, blockingFlush: flush, drop: flush };
}

/** The import object for the `wasi:*` interfaces of one instance (every version jco asks for maps to these). */
export async function sandboxWasi(name: string, output: OutputLine): Promise<Record<string, unknown>> {
  const shim = await loadShim();
  const cli = shim.cli.createCli({
    environment: {},
    arguments: [name],
    initialCwd: '/',
    stdout: outputLines((l) => output('stdout', l)),
    stderr: outputLines((l) => output('stderr', l)),
  });
  const noPreopens = { getDirectories: () => [] };
  return {
    'wasi:cli/environment': cli.environment,
    'wasi:cli/exit': cli.exit,
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:clocks/monotonic-clock': shim.clocks.monotonicClock,
    'wasi:clocks/wall-clock': shim.clocks.wallClock,
    'wasi:filesystem/preopens': noPreopens,
    'wasi:filesystem/types': shim.filesystem.types,
    'wasi:io/error': shim.io.error,
    'wasi:io/poll': shim.io.poll,
    'wasi:io/streams': shim.io.streams,
    'wasi:random/random': shim.random.random,
    'wasi:random/insecure': shim.random.insecure,
    'wasi:random/insecure-seed': shim.random.insecureSeed,
    // Every socket operation answers `not-supported`; HTTP is not offered (no outgoing requests).
    'wasi:sockets/instance-network': shim.sockets.instanceNetwork,
    'wasi:sockets/ip-name-lookup': shim.sockets.ipNameLookup,
    'wasi:sockets/network': shim.sockets.network,
    'wasi:sockets/tcp': shim.sockets.tcp,
    'wasi:sockets/tcp-create-socket': shim.sockets.tcpCreateSocket,
    'wasi:sockets/udp': shim.sockets.udp,
    'wasi:sockets/udp-create-socket': shim.sockets.udpCreateSocket,
  };
}
