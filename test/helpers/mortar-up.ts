/** A real `mortar up` process for e2e tests: started, waited for, its output kept, stopped. */
import { spawn } from 'node:child_process';
import { BIN } from './sidecar.js';
import { waitUntil } from './wait.js';

/** A running `mortar up`. */
export interface Up {
  /** Its stdout and stderr, as chunks in the order they came. */
  readonly logs: string[];
  /** Sends SIGTERM (unless it has exited) and resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** The ports of one `mortar up`: the Dapr HTTP and gRPC APIs and the workload listener. */
export interface UpPorts {
  readonly http: number;
  readonly grpc: number;
  readonly listen: number;
}

/** `-f <manifest> --listen … --dapr-http-port … --dapr-grpc-port … --data-dir <dataDir>`. */
export function upArgs(manifest: string, dataDir: string, ports: UpPorts): string[] {
  return [
    '-f',
    manifest,
    '--listen',
    `127.0.0.1:${ports.listen}`,
    '--dapr-http-port',
    String(ports.http),
    '--dapr-grpc-port',
    String(ports.grpc),
    '--data-dir',
    dataDir,
  ];
}

/** Ready once the workload listener on `listen` answers Spin's health path with 200. */
export function listenerServing(listen: number): () => Promise<boolean> {
  return async () => {
    try {
      return (await fetch(`http://127.0.0.1:${listen}/.well-known/spin/health`)).status === 200;
    } catch {
      return false;
    }
  };
}

/**
 * Starts `mortar up <args>` (text logs, `env` added) and waits up to 30 s until `ready` (given the output so
 * far) holds; throws, the process stopped, when it exits first or the time runs out. `what` names the wait.
 */
export async function startUp(
  args: string[],
  ready: (logs: string) => boolean | Promise<boolean>,
  what: string,
  env: Record<string, string> = {},
): Promise<Up> {
  const proc = spawn(process.execPath, [BIN, 'up', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MORTAR_LOG_FORMAT: 'text', ...env },
  });
  const logs: string[] = [];
  proc.stdout.on('data', (b: Buffer) => logs.push(b.toString()));
  proc.stderr.on('data', (b: Buffer) => logs.push(b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', r));
  const stop = () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    return exited;
  };
  try {
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`mortar up exited ${proc.exitCode}: ${logs.join('')}`);
        return ready(logs.join(''));
      },
      what,
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { logs, stop };
}
