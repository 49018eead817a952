/**
 * The I/O of planned calls (`read-plan`, `invoke-plan`), performed inside a sandbox worker.
 *
 * A component that plans describes the I/O of a call instead of performing it through a blocking host
 * import; the worker performs that I/O here, asynchronously, then hands the reply back to the component.
 * Compared with the host imports over the bridge:
 * - the instance is not blocked during the round trip, so many planned calls overlap in one instance;
 * - the request goes straight from this thread to the server: no hand-off to the capability thread and back.
 *
 * Authority is unchanged. A Redis plan runs only with connection options the capabilities have already
 * accepted (a `redis.connection.open` that succeeded through the bridge, after its grant check); an HTTP plan
 * is checked against the component's grants exactly as `http.send` is on the capability thread (the same
 * `grant` rule, the same refusal), and sent by the same code with the same limits.
 */
import { CommandBatcher, RedisClients, type RedisArgument, type RedisConnectOptions, type RedisValue } from '../../capabilities/redis.js';
import { httpCapability, send, type HttpRequest, type HttpResponse } from '../../capabilities/http.js';
import { grantsFromSchema, type Grants } from '../../capabilities/grants.js';
import { deniedError } from '../../capabilities/denied.js';
import type { WitError } from '../../capabilities/wit-error.js';
import { deadlineMargin, sharedClock } from './protocol.js';

/** A WIT `result` as jco lowers it inside a list or a variant. */
export type WitResult<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: WitError };

/** What the component may reach, as the capability thread derived it (`WorkerInit.grants`). */
export interface GrantSource {
  readonly schema: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The I/O side of planned calls in one worker. Its connections close with the worker's thread. */
export class PlannedIo {
  readonly #clients: RedisClients;
  readonly #commandTimeoutMs: number;
  readonly #component: string;
  readonly #grantSource?: GrantSource;
  readonly #warn: (message: string) => void;
  #grants?: Grants;
  #redisOptions?: RedisConnectOptions;
  /** The instance's connection: the commands of one batch go out in one write. */
  #redis?: CommandBatcher;

  /**
   * `commandTimeoutMs`: how long a server may take to answer before the call fails as `unavailable`. A
   * planned call also fails `deadlineMargin` before its deadline if the server has not answered. `warn`
   * logs a refused grant, as the capability thread does.
   */
  constructor(component: string, commandTimeoutMs: number, grants: GrantSource | undefined, warn: (message: string) => void) {
    this.#component = component;
    this.#commandTimeoutMs = commandTimeoutMs;
    this.#grantSource = grants;
    this.#warn = warn;
    this.#clients = new RedisClients(commandTimeoutMs, 'mortar-planned-io');
  }

  /** Records a Redis connection the instance opened through the bridge (so its grant check passed). The
   *  first non-exclusive one is where Redis plans run. */
  redisOpened(options: RedisConnectOptions): void {
    if (!options.exclusive && !this.#redisOptions) this.#redisOptions = options;
  }

  /** Whether Redis plans can run here (the instance has opened its connection). */
  get hasRedis(): boolean {
    return this.#redisOptions !== undefined;
  }

  /** One command on the instance's connection, by `deadline` (`sharedClock`). Never rejects. */
  redisCommand(args: RedisArgument[], deadline: number): Promise<WitResult<RedisValue[]>> {
    return this.#bounded('redis read', deadline, () => this.#client().command(args));
  }

  /** Commands back to back on the instance's connection, as `connection.pipeline`. Never rejects. */
  redisPipeline(commands: RedisArgument[][], deadline: number): Promise<WitResult<Array<{ tag: 'ok'; val: RedisValue[] } | { tag: 'err'; val: string }>>> {
    return this.#bounded('redis pipeline', deadline, () => this.#client().pipeline(commands));
  }

  /** One HTTP request, granted and limited as `http.send`. Never rejects. */
  async httpSend(req: HttpRequest, deadline: number): Promise<WitResult<HttpResponse>> {
    try {
      const grants = (this.#grants ??= grantsFromSchema(JSON.parse(this.#grantSource?.schema ?? '{}'), this.#grantSource?.metadata ?? {}));
      for (const need of httpCapability.functions.send.grant([req])) {
        if (!grants.allows(need.kind, need.value)) {
          const denied = deniedError(this.#component, need.kind, need.shown ?? need.value);
          this.#warn(denied.log);
          return { tag: 'err', val: denied.error };
        }
      }
    } catch (err) {
      return { tag: 'err', val: err as WitError };
    }
    // `send` takes a `performance.now()` deadline; the margin leaves the component time to answer. As over
    // the bridge, one request waits at most the import timeout, whatever the call's deadline.
    const left = Math.min(deadline - sharedClock(), this.#commandTimeoutMs);
    return this.#bounded('http request', deadline, () => send(req, performance.now() + left - deadlineMargin(left)), false);
  }

  #client(): CommandBatcher {
    this.#redis ??= new CommandBatcher(this.#clients.acquire(this.#redisOptions!).client);
    return this.#redis;
  }

  /**
   * Runs `io` unless `deadline` has (nearly) passed; a server that has not answered by then (a frozen one,
   * say), or within the import timeout, fails it as `unavailable`. `race`: with a timer of our own, which
   * also bounds a first connect (ioredis's command timeout does not); HTTP ends at its own deadline.
   */
  async #bounded<T>(what: string, deadline: number, io: () => Promise<T>, race = true): Promise<WitResult<T>> {
    const left = deadline - sharedClock();
    const budget = Math.floor(left - deadlineMargin(left));
    if (budget <= 0) return { tag: 'err', val: { tag: 'unavailable', val: `${what} not attempted: the call's deadline has passed` } };
    let timer: NodeJS.Timeout | undefined;
    try {
      const reply = io();
      if (!race) return { tag: 'ok', val: await reply };
      const wait = Math.min(budget, this.#commandTimeoutMs);
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject({ tag: 'unavailable', val: `${what} timed out after ${wait}ms` }), wait);
      });
      return { tag: 'ok', val: await Promise.race([reply, late]) };
    } catch (err) {
      return { tag: 'err', val: err && typeof err === 'object' && 'tag' in err ? (err as WitError) : { tag: 'other', val: String(err) } };
    } finally {
      clearTimeout(timer);
    }
  }
}
