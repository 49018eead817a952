/**
 * The app started by `mortar run -- <command>`, as `dapr run` starts it: in a process group of its own, so
 * that stopping it reaches everything it started (`npm run start` -> `sh` -> `node server.js`), not only
 * the first process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from './logger.js';

/** How the app ended: its exit code, or the signal that ended it. */
export interface AppExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class AppProcess {
  readonly #child: ChildProcess;
  /** The process group id: the app's pid, as it leads a group of its own. */
  readonly #pgid: number | undefined;
  readonly #exited: Promise<AppExit>;

  /**
   * Starts `command` with stdio inherited. `onExit` is told when the app's first process ends by itself
   * or is stopped; `onError` when it could not be started at all.
   */
  constructor(
    command: readonly string[],
    env: NodeJS.ProcessEnv,
    readonly log: Logger,
    onExit: (exit: AppExit) => void,
    onError: (err: Error) => void,
  ) {
    // detached: the child calls setsid(), leading a new session and process group (dapr run: Setpgid).
    this.#child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env, detached: true });
    this.#pgid = this.#child.pid;
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        resolve({ code, signal });
        onExit({ code, signal });
      });
    });
    this.#child.once('error', onError);
  }

  get pid(): number | undefined {
    return this.#pgid;
  }

  /**
   * True while any process of the app's group is alive (the first one may have exited already). A process
   * that has exited but is not yet reaped (a zombie: orphans wait for init, which may take a second) counts
   * as gone, where /proc tells.
   */
  groupAlive(): boolean {
    if (this.#pgid === undefined) return false;
    try {
      process.kill(-this.#pgid, 0);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    return livingMembers(this.#pgid) !== 0;
  }

  /** Sends `signal` to every process of the app's group; a group already gone is not an error. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.#pgid === undefined) return;
    try {
      process.kill(-this.#pgid, signal);
    } catch {
      /* ESRCH: the group is gone */
    }
  }

  /**
   * Stops the whole group as `dapr run` does: SIGTERM to the group, then wait until no process of it is
   * left; whatever is still alive after `graceMs` gets SIGKILL. Resolves once the group is gone (or, after
   * SIGKILL, once the kernel had a second to reap it).
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.groupAlive()) return;
    this.log.info({ pid: this.#pgid }, `stopping the app (process group ${this.#pgid}): SIGTERM`);
    this.signalGroup('SIGTERM');
    if (await this.#waitGone(graceMs)) return;
    this.log.warn({ pid: this.#pgid, graceMs }, `the app's process group ${this.#pgid} outlived SIGTERM by ${graceMs} ms: SIGKILL`);
    this.signalGroup('SIGKILL');
    await this.#waitGone(1000);
  }

  /** Polls the group every 50 ms, as there is no event for a grandchild's exit; true once it is gone. */
  async #waitGone(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      // The first process must have been reaped too, or its zombie keeps the group "alive".
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
        if (!this.groupAlive()) return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resolves when the app's first process has ended. */
  exited(): Promise<AppExit> {
    return this.#exited;
  }
}

/**
 * How many processes of group `pgid` are running (`procStatus`), from /proc; -1 where there is no /proc
 * (the caller then trusts kill(-pgid, 0) alone).
 */
function livingMembers(pgid: number): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return -1;
  }
  let n = 0;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const p = procStatus(e);
    if (p?.running && p.pgrp === pgid) n++;
  }
  return n;
}

/**
 * Process `pid` as /proc tells it: its process group, and whether it still runs. A zombie (exited, waiting to
 * be reaped: orphans wait for init) does not, unless other threads of it are still exiting (Node's exit_group
 * shows the leader thread Z first): until the last one is gone the process holds its files, such as a
 * listening socket. Undefined when /proc has no such process (gone, or no /proc at all).
 */
export function procStatus(pid: number | string): { pgrp: number; running: boolean } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read after the last ')'.
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pgrp: Number(pgrp), running: (state !== 'Z' && state !== 'X') || threadsLeft(pid) };
}

function threadsLeft(pid: number | string): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false; /* reaped meanwhile */
  }
}
