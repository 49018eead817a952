// world: planned-output-binding-component
/**
 * bindings.redis: an output binding to Redis, as Dapr's `bindings.redis` (components-contrib
 * `bindings/redis/redis.go`), with the connection metadata of Dapr's Redis components (`redisHost`, ...).
 *
 * Operations, each with the key in the request metadata `key` (missing: invalid-argument):
 * * `create`: `SET key data`, then `EXPIRE key <seconds>` when `ttl`/`ttlInSeconds` is given (a Go
 *   duration or whole seconds, as `metadata.TryGetTTL`); no response.
 * * `get`: the value as the response data; a missing key answers a response with empty data. With
 *   metadata `delete: "true"` it is `GETDEL`.
 * * `delete`: `DEL key`; no response.
 * * `increment`: `INCR key`, then the TTL as for create; no response.
 */
import type * as O from 'mortar:component/output-binding@0.1.0';
import type * as P from '../lib/invoke-plan.js';
import { Connection, type Argument, type Value } from 'mortar:host/redis@0.1.0';
import { REDIS_CONNECTION_PROPERTIES, redisConnectOptions } from '../lib/redis-connection.js';
import { schema, toMap, type Pairs } from '../lib/guest.js';
import { bindingError, bindingFromHost, response, ttlMs, unsupported } from '../lib/binding.js';

const OPERATIONS = ['create', 'delete', 'get', 'increment'];

let settings: Record<string, string> = {};
let conn: Connection | undefined;

function connection(): Connection {
  if (!conn) {
    try {
      conn = Connection.open(redisConnectOptions(settings));
    } catch (err) {
      throw bindingFromHost(err, `redis binding: error connecting to redis at ${settings.redisHost}`);
    }
  }
  return conn;
}

function run(args: Argument[]): Value[] {
  try {
    return connection().command(args);
  } catch (err) {
    throw bindingFromHost(err, `redis binding: ${String(args[0]!.val)}`);
  }
}

const text = (v: string): Argument => ({ tag: 'text', val: v });

export const lifecycle = {
  describe() {
    return {
      // Dapr registers it as `redis` (dapr/dapr cmd/daprd/components/binding_redis.go).
      types: ['bindings.redis'],
      version: '1.0.0',
      features: [],
      metadataSchema: schema(
        {
          ...REDIS_CONNECTION_PROPERTIES,
          redisType: { type: 'string', enum: ['node'], default: 'node', description: 'Only a single node is supported.' },
          redisMaxRetries: { type: 'integer' },
          redisMinRetryInterval: { type: 'string' },
          redisMaxRetryInterval: { type: 'string' },
          dialTimeout: { type: 'string' },
          readTimeout: { type: 'string' },
          writeTimeout: { type: 'string' },
          poolSize: { type: 'integer' },
          poolTimeout: { type: 'string' },
          maxConnAge: { type: 'string' },
          minIdleConns: { type: 'integer' },
          idleCheckFrequency: { type: 'string' },
          idleTimeout: { type: 'string' },
        },
        ['redisHost'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    settings = toMap(metadata);
    try {
      connection().command([text('PING')]);
    } catch (err) {
      const e = bindingFromHost(err);
      throw {
        tag: e.tag === 'unavailable' ? 'unavailable' : 'other',
        val: `redisHost: redis binding: error connecting to redis at ${settings.redisHost}: ${e.val}`,
      };
    }
  },
  ping() {
    try {
      run([text('PING')]);
    } catch (err) {
      throw (err as { val: string }).val;
    }
  },
};

/** The commands an invocation sends, in order, and what `answer` needs of it. */
interface Commands {
  op: string;
  commands: Argument[][];
}

/**
 * The commands of one invocation, checked as Dapr checks the request (a missing key, a bad TTL: before
 * anything is sent). `planned`: as one pipeline the host may send (`undefined` when that cannot be done with
 * Dapr's exact effect: an `increment`, or a TTL of under a second, with a TTL: see `invokePlan`).
 */
function commandsOf(r: O.InvokeRequest, planned: boolean): Commands | undefined {
  if (!OPERATIONS.includes(r.operation)) unsupported(r, OPERATIONS);
  const md = toMap(r.metadata);
  const key = md.key;
  if (key === undefined || key === '') throw bindingError('invalid-argument', 'key: redis binding: missing key in request metadata');
  const op = r.operation;
  switch (op) {
    case 'delete':
      return { op, commands: [[text('DEL'), text(key)]] };
    case 'get':
      return { op, commands: [[text(md.delete === 'true' ? 'GETDEL' : 'GET'), text(key)]] };
    case 'create': {
      const ttl = ttlMs(r.metadata); // a bad TTL fails before anything is written
      const set = [text('SET'), text(key), { tag: 'binary', val: r.data } as Argument];
      if (ttl === undefined) return { op, commands: [set] };
      const seconds = Math.trunc(ttl / 1000);
      // SET ... EX is SET then EXPIRE in one step; EXPIRE with 0 or less (the key goes at once) is not.
      if (planned) return seconds > 0 ? { op, commands: [[...set, text('EX'), int(seconds)]] } : undefined;
      return { op, commands: [set, [text('EXPIRE'), text(key), int(seconds)]] };
    }
    default: {
      // increment: INCR, then EXPIRE only if INCR succeeded (as Dapr does), so never planned with a TTL.
      const ttl = ttlMs(r.metadata);
      if (ttl !== undefined && planned) return undefined;
      const incr = [text('INCR'), text(key)];
      return { op, commands: ttl === undefined ? [incr] : [incr, [text('EXPIRE'), text(key), int(Math.trunc(ttl / 1000))]] };
    }
  }
}

/** The response to an invocation, from the reply to its first command. */
function answer(op: string, first: Value[]): O.InvokeResponse | undefined {
  if (op !== 'get') return undefined;
  const [v] = first;
  return response(v?.tag === 'bulk' ? v.val : new Uint8Array(0));
}

const int = (n: number): Argument => ({ tag: 'int', val: n as unknown as bigint });

export const outputBinding = {
  operations: (): string[] => OPERATIONS,

  invoke(r: O.InvokeRequest): O.InvokeResponse | undefined {
    const { op, commands } = commandsOf(r, false)!;
    // One after the other: a command that fails stops the rest (an INCR on a non-number sets no TTL).
    const replies = commands.map((c) => run(c));
    return answer(op, replies[0]!);
  },
};

/** Each planned invocation is one pipeline; its context is the operation and the command names. */
export const invokePlan = {
  plan(requests: O.InvokeRequest[]): P.Planned[] {
    return requests.map((r): P.Planned => {
      try {
        const c = commandsOf(r, true);
        if (!c) return { tag: 'ok', val: undefined };
        // Only `get` answers with data: the writes answer nothing once every command succeeded.
        const context = c.commands.length === 1 ? `${c.op} ${String(c.commands[0]![0]!.val)}` : [c.op, ...c.commands.map((x) => String(x[0]!.val))].join(' ');
        return { tag: 'ok', val: { io: { tag: 'redis-pipeline', val: c.commands }, context, noneIfOk: c.op !== 'get' } };
      } catch (err) {
        return { tag: 'err', val: bindingFromHost(err) };
      }
    });
  },

  finish(outcomes: P.IoOutcome[]): P.Finished[] {
    return outcomes.map(({ context, reply }): P.Finished => {
      const [op, ...names] = context.split(' ');
      if (reply.tag !== 'redis-pipeline') return { tag: 'err', val: bindingError('other', `redis binding: unexpected ${reply.tag} reply`) };
      const r = reply.val;
      if (r.tag === 'err') return { tag: 'err', val: bindingFromHost(r.val, `redis binding: ${names[0]}`) };
      for (let i = 0; i < r.val.length; i++) {
        const one = r.val[i]!;
        if (one.tag === 'err') return { tag: 'err', val: bindingFromHost({ tag: 'reply', val: one.val }, `redis binding: ${names[i]}`) };
      }
      const first = r.val[0]!;
      return { tag: 'ok', val: answer(op!, first.tag === 'ok' ? first.val : []) };
    });
  },
};
