/**
 * mortar's own `wasi:io` 0.2 (error, poll, streams) for workload instances, with the stdio and the monotonic
 * clock that hand out its resources.
 *
 * Everything a workload reads or writes is in memory when it asks (the request body, an outbound response
 * read in full by the host), so streams never block and a pollable is ready at once; the exceptions are a
 * clock pollable, ready at its instant, and an outbound response's (`wasi-http.ts`), ready when it is in: on
 * those `block` and `poll` wait (never past the request's deadline, `deadline()`). How they wait depends on
 * the thread (`waits`). The WASI HTTP types (`wasi-http.ts`) build their bodies from these streams: jco's glue checks
 * that a resource handed to the guest is an instance of the class imported under its interface, so streams,
 * pollables and errors must all come from here.
 */

/** A `wasi:io/error.error`: a message for humans. */
export class IoError {
  constructor(readonly message: string) {}
  toDebugString(): string {
    return this.message;
  }
}

/** Thrown into the guest as `stream-error.closed`. */
const CLOSED = { tag: 'closed' } as const;

/**
 * How a pollable waits in this thread. A sync workload worker blocks (a guest that sleeps blocks its worker, as
 * in any synchronous WASI host). An async workload worker sets `async`: `block` and `poll` then answer a promise
 * (they are suspending imports there, `async-imports.ts`), and the thread serves other requests meanwhile.
 */
export const waits = { async: false };

/** Blocks the thread for `ms`. */
function sleep(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A `wasi:io/poll.pollable`: ready at once, or at `readyAt` (`performance.now()` ms) for a clock pollable. */
export class Pollable {
  constructor(
    readonly readyAt = 0,
    private readonly deadline: () => number = () => Infinity,
  ) {}
  ready(): boolean {
    return performance.now() >= this.readyAt;
  }
  block(): void | Promise<void> {
    if (waits.async) return this.wait();
    sleep(Math.min(this.readyAt, this.deadline()) - performance.now());
  }
  /** For an async wait: settles when it is ready or the deadline comes; undefined when there is nothing to wait for. */
  wait(): Promise<void> | undefined {
    const left = () => Math.min(this.readyAt, this.deadline()) - performance.now();
    if (left() <= 0) return undefined;
    // Timers run on the event loop's whole-millisecond clock and may fire a little early: wait again until due.
    return new Promise((resolve) => {
      const check = () => (left() <= 0 ? resolve() : setTimeout(check, Math.ceil(left())));
      check();
    });
  }
}

const readyOf = (list: readonly Pollable[]) => Uint32Array.from(list.flatMap((p, i) => (p.ready() ? [i] : [])));

/** `wasi:io/poll.poll`: the indexes of the ready pollables, waiting for the first one if none is. */
export function poll(list: readonly Pollable[]): Uint32Array | Promise<Uint32Array> {
  if (list.length === 0) throw new Error('poll: an empty list of pollables');
  const ready = readyOf(list);
  if (ready.length > 0) return ready;
  if (waits.async) {
    const pending = list.map((p) => p.wait()).filter((w) => w !== undefined);
    return (pending.length > 0 ? Promise.race(pending) : Promise.resolve()).then(() => readyOf(list));
  }
  let first = list[0]!;
  for (const p of list) if (p.readyAt < first.readyAt) first = p;
  first.block();
  return readyOf(list);
}

/** A `wasi:io/streams.input-stream` over bytes already in memory (then closed). */
export class InputStream {
  #bytes: Uint8Array;
  #at = 0;
  constructor(bytes: Uint8Array = new Uint8Array(0)) {
    this.#bytes = bytes;
  }
  read(len: bigint | number): Uint8Array {
    if (this.#at >= this.#bytes.length) throw CLOSED;
    const n = Math.min(Number(len), this.#bytes.length - this.#at);
    const out = this.#bytes.slice(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  blockingRead(len: bigint | number): Uint8Array {
    return this.read(len);
  }
  skip(len: bigint | number): bigint {
    return BigInt(this.read(len).length);
  }
  blockingSkip(len: bigint | number): bigint {
    return this.skip(len);
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

/** Where an output stream's bytes go; `write` throws `IoError` to refuse them (a body over its limit). */
export interface ByteSink {
  write(bytes: Uint8Array): void;
  flush?(): void;
}

/** How much a guest may write in one `write` (`check-write`): it writes larger bodies in several. */
const WRITE_BUDGET = 1024 * 1024;

/** A `wasi:io/streams.output-stream` into a `ByteSink`. */
export class OutputStream {
  #closed = false;
  constructor(private readonly sink: ByteSink) {}
  #put(bytes: Uint8Array): void {
    if (this.#closed) throw CLOSED;
    try {
      this.sink.write(bytes);
    } catch (err) {
      throw { tag: 'last-operation-failed', val: new IoError(err instanceof Error ? err.message : String(err)) };
    }
  }
  checkWrite(): bigint {
    if (this.#closed) throw CLOSED;
    return BigInt(WRITE_BUDGET);
  }
  write(contents: Uint8Array): void {
    this.#put(contents);
  }
  blockingWriteAndFlush(contents: Uint8Array): void {
    this.#put(contents);
    this.sink.flush?.();
  }
  flush(): void {
    this.sink.flush?.();
  }
  blockingFlush(): void {
    this.sink.flush?.();
  }
  subscribe(): Pollable {
    return new Pollable();
  }
  writeZeroes(len: bigint | number): void {
    this.#put(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len: bigint | number): void {
    this.writeZeroes(len);
    this.sink.flush?.();
  }
  splice(src: InputStream, len: bigint | number): bigint {
    let chunk: Uint8Array;
    try {
      chunk = src.read(len);
    } catch {
      throw CLOSED;
    }
    this.#put(chunk);
    return BigInt(chunk.length);
  }
  blockingSplice(src: InputStream, len: bigint | number): bigint {
    return this.splice(src, len);
  }
  /** No more writes (the body it belongs to was finished). */
  close(): void {
    this.#closed = true;
  }
}

/** A sink that turns bytes into lines (a partial line waits for its end, or a flush). */
export function lineSink(emit: (line: string) => void): Required<ByteSink> {
  const decoder = new TextDecoder();
  let pending = '';
  return {
    write(bytes) {
      pending += decoder.decode(bytes, { stream: true });
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) emit(l.endsWith('\r') ? l.slice(0, -1) : l);
    },
    flush() {
      pending += decoder.decode();
      if (pending !== '') emit(pending);
      pending = '';
    },
  };
}

/** The `wasi:io`, stdio and monotonic clock imports of one workload instance. */
export function ioImports(opts: {
  readonly stdout: ByteSink;
  readonly stderr: ByteSink;
  /** When the request being served must end (`performance.now()` ms): clock waits stop there. */
  readonly deadline: () => number;
}): Record<string, unknown> {
  const stdout = new OutputStream(opts.stdout);
  const stderr = new OutputStream(opts.stderr);
  const stdin = new InputStream();
  const NS = 1_000_000;
  return {
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:cli/stdin': { getStdin: () => stdin },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/terminal-input': { TerminalInput: class TerminalInput {} },
    'wasi:cli/terminal-output': { TerminalOutput: class TerminalOutput {} },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:clocks/monotonic-clock': {
      now: () => BigInt(Math.round(performance.now() * NS)),
      resolution: () => 1000n,
      subscribeInstant: (when: bigint) => new Pollable(Number(when) / NS, opts.deadline),
      subscribeDuration: (d: bigint) => new Pollable(performance.now() + Number(d) / NS, opts.deadline),
    },
  };
}
