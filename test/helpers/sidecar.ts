/**
 * Starts a real `mortar run` process for tests and talks to it over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(ROOT, 'bin/mortar.js');
export const TEST_COMPONENTS = join(ROOT, 'dist/test-components');
export const BUILTIN_COMPONENTS = join(ROOT, 'dist/components');

/** Ports this process has handed out: a port just released may be the next the OS offers. */
const HANDED_OUT = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, never one this process handed out before: two ports asked for one after the
 * other (a sidecar's HTTP and gRPC ports) could otherwise be the same, and the second bind would fail.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (HANDED_OUT.has(port)) continue;
    HANDED_OUT.add(port);
    return port;
  }
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `mortar-${name}-`));
}

export interface SidecarOptions {
  appId?: string;
  resourcesPath?: string;
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for /v1.0/healthz/outbound (default true). */
  wait?: boolean;
}

export class Sidecar {
  readonly logs: string[] = [];
  #exited?: Promise<number | null>;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly dataDir: string,
    readonly resourcesPath: string | undefined,
    /** The gRPC API's port (`--dapr-grpc-port`). */
    readonly grpcPort: number,
  ) {
    const collect = (b: Buffer) => {
      for (const l of b.toString('utf8').split('\n')) if (l.trim()) this.logs.push(l);
    };
    proc.stdout!.on('data', collect);
    proc.stderr!.on('data', collect);
    this.#exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(opts: SidecarOptions = {}): Promise<Sidecar> {
    const port = await freePort();
    const dataDir = opts.dataDir ?? tempDir('data');
    const args = [
      BIN,
      'run',
      '--app-id',
      opts.appId ?? 'orders',
      '--dapr-http-port',
      String(port),
      '--data-dir',
      dataDir,
      '--log-level',
      'debug',
      '--poll-ms',
      '200',
    ];
    if (opts.resourcesPath) args.push('--resources-path', opts.resourcesPath);
    // Every sidecar serves gRPC too: on a free port of its own unless the test names one.
    const grpcPort = opts.args?.includes('--dapr-grpc-port') ? Number(opts.args[opts.args.indexOf('--dapr-grpc-port') + 1]) : await freePort();
    if (!opts.args?.includes('--dapr-grpc-port')) args.push('--dapr-grpc-port', String(grpcPort));
    args.push(...(opts.args ?? []));
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MORTAR_LOG_FORMAT: 'text', ...opts.env } });
    const s = new Sidecar(proc, port, dataDir, opts.resourcesPath, grpcPort);
    if (opts.wait !== false) await s.waitReady();
    return s;
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`mortar exited with ${this.proc.exitCode}:\n${this.logs.join('\n')}`);
      try {
        const r = await fetch(`${this.url}/v1.0/healthz/outbound`);
        if (r.status === 204) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`mortar not ready after ${timeoutMs}ms:\n${this.logs.join('\n')}`);
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.url}${path}`, init);
  }

  /** POSTs JSON and returns status, headers and parsed (or raw) body. */
  async json(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
    const r = await this.fetch(path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* raw */
    }
    return { status: r.status, headers: r.headers, body: parsed, text };
  }

  /** Waits until `pred` holds on the sidecar's logs (for hot-reload tests). */
  async waitForLog(pred: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.logs.find(pred);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no matching log line within ${timeoutMs}ms:\n${this.logs.slice(-30).join('\n')}`);
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
    return this.#exited!;
  }

  async kill9(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.#exited;
  }
}

/** Writes a Dapr Component YAML file. */
export function writeComponent(dir: string, file: string, name: string, type: string, metadata: Record<string, string> = {}, extra = ''): string {
  mkdirSync(dir, { recursive: true });
  const md = Object.entries(metadata)
    .map(([k, v]) => `    - name: ${k}\n      value: ${JSON.stringify(v)}`)
    .join('\n');
  const path = join(dir, file);
  writeFileSync(
    path,
    `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${name}
spec:
  type: ${type}
  version: v1
  metadata:${md ? `\n${md}` : ' []'}
${extra}`,
  );
  return path;
}

export const REDIS_HOST = process.env.MORTAR_TEST_REDIS ?? '127.0.0.1:6379';
export const PG_URL = process.env.MORTAR_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
export const AMQP_URL = process.env.MORTAR_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';
export const MQTT_URL = process.env.MORTAR_TEST_MQTT ?? 'tcp://127.0.0.1:1883';
export const NATS_URL = process.env.MORTAR_TEST_NATS ?? 'nats://127.0.0.1:4222';
