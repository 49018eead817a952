/**
 * A broker of the test's own: the real server binary of the machine's Redis, NATS or Mosquitto, started
 * on a free port with its data in a temporary folder, so a test can stop and restart it without touching
 * the shared services other tests use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { freePort, tempDir } from './sidecar.js';

export type BrokerKind = 'redis' | 'nats' | 'mosquitto' | 'rabbitmq';

/** A broker a test may restart. */
export interface RestartableBroker {
  readonly address: string;
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a broker of `kind` the test may restart: a private server, or for RabbitMQ the machine's own. */
export function restartableBroker(kind: BrokerKind): Promise<RestartableBroker> {
  return kind === 'rabbitmq' ? Promise.resolve(new RabbitMQApp()) : PrivateBroker.start(kind);
}

/**
 * The machine's RabbitMQ, restarted with `rabbitmqctl stop_app` / `start_app`: the broker application stops
 * (every connection drops; durable queues and persistent messages stay on disk) and starts again inside
 * the same node. A private RabbitMQ node would take tens of seconds to boot; this takes about two.
 */
class RabbitMQApp implements RestartableBroker {
  readonly address = process.env.MORTAR_TEST_AMQP ?? 'amqp://guest:guest@127.0.0.1:5672';

  async restart(downMs = 1000): Promise<void> {
    await ctl('stop_app');
    await new Promise((r) => setTimeout(r, downMs));
    await ctl('start_app');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !(await portOpen(5672))) await new Promise((r) => setTimeout(r, 50));
  }

  async stop(): Promise<void> {
    // Shared: make sure it is running again whatever happened in the test.
    await ctl('start_app').catch(() => undefined);
  }
}

function ctl(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('rabbitmqctl', [command], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin` } });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmqctl ${command} exited with ${code}`))));
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export class PrivateBroker implements RestartableBroker {
  #proc?: ChildProcess;
  readonly output: string[] = [];

  private constructor(
    readonly kind: BrokerKind,
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(kind: BrokerKind): Promise<PrivateBroker> {
    const b = new PrivateBroker(kind, await freePort(), tempDir(`broker-${kind}`));
    await b.#launch();
    return b;
  }

  /** The address components are given: `host:port` for Redis, a URL otherwise. */
  get address(): string {
    return this.kind === 'redis' ? `127.0.0.1:${this.port}` : this.kind === 'nats' ? `nats://127.0.0.1:${this.port}` : `tcp://127.0.0.1:${this.port}`;
  }

  /**
   * Stops the broker (`SIGKILL` for Redis and NATS, whose acknowledged writes are already on disk or in
   * the page cache; `SIGTERM` for Mosquitto, which saves its sessions when it shuts down), waits
   * `downMs`, and starts it again on the same port with the same data.
   */
  async restart(downMs = 1000): Promise<void> {
    await this.stop(this.kind === 'mosquitto' ? 'SIGTERM' : 'SIGKILL');
    await new Promise((r) => setTimeout(r, downMs));
    await this.#launch();
  }

  /** Starts the broker again after `stop`, on the same port with the same data. */
  async relaunch(): Promise<void> {
    if (this.#proc) return;
    await this.#launch();
  }

  /** Sends `signal` to the running server: `SIGSTOP` freezes it with its connections open, `SIGCONT` resumes it. */
  signal(signal: NodeJS.Signals): void {
    this.#proc?.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.#proc;
    this.#proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async #launch(): Promise<void> {
    const [cmd, args] = this.#command();
    // Debian installs the servers under /usr/sbin, which is not on every PATH.
    const bin = ['/usr/sbin', '/usr/bin', '/usr/local/bin'].map((d) => join(d, cmd)).find((f) => existsSync(f)) ?? cmd;
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => {
      this.output.push(b.toString('utf8'));
      if (this.output.length > 200) this.output.shift();
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    this.#proc = p;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`${this.kind} exited with ${p.exitCode}: ${this.output.join('')}`);
      if (await portOpen(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.kind} did not open port ${this.port}: ${this.output.join('')}`);
  }

  #command(): [string, string[]] {
    switch (this.kind) {
      case 'redis':
        // Every write is on disk before Redis answers it: an acknowledged publish survives a kill.
        return [
          'redis-server',
          ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
        ];
      case 'nats':
        return ['nats-server', ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir]];
      case 'rabbitmq':
        throw new Error('RabbitMQ is restarted in place (restartableBroker), not started privately');
      case 'mosquitto': {
        const conf = join(this.dir, 'mosquitto.conf');
        // `user`: run as root, Mosquitto would switch to its own user, which cannot write our folder.
        writeFileSync(
          conf,
          `user ${userInfo().username}\nlistener ${this.port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${this.dir}/\nmax_queued_messages 0\n`,
        );
        return ['mosquitto', ['-c', conf]];
      }
    }
  }
}
