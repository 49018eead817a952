// world: planned-listing-state-store-component
/**
 * state.redis: state in Redis, in Dapr's own layout (a hash per key with fields `data` and `version`;
 * the ETag is the version), so data written by Dapr's state.redis is readable here and the other way round.
 * Every conditional write is one Lua script, so ETag checks are atomic; a transaction is one script that
 * checks every condition before it changes anything.
 */
import type * as S from 'mortar:component/state-store@0.1.0';
import type * as P from 'mortar:component/read-plan@0.1.0';
import type * as L from 'mortar:component/key-listing@0.1.0';
import { Connection, type Argument, type Value } from 'mortar:host/redis@0.1.0';
import { nowMs } from 'mortar:host/clock@0.1.0';
import { REDIS_CONNECTION_PROPERTIES, redisConnectOptions } from '../lib/redis-connection.js';
import { fromHostError, hostPayload, rfc3339, schema, stateError, toMap, ttlSeconds, utf8Decode, type Pairs, type StateError } from '../lib/guest.js';

/** KEYS[1]; ARGV: etag ('' none), data, ttl ('' none), first-write ('1'/'0'). Returns the new version. */
const SET = `
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] ~= '' then
  if v and v ~= ARGV[1] then return redis.error_reply('ETAGMISMATCH') end
elseif ARGV[4] == '1' and v then return redis.error_reply('ETAGMISMATCH') end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
local n = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[3] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
return n`;

/** KEYS[1]; ARGV: etag ('' none). */
const DEL = `
if ARGV[1] ~= '' then
  local v = redis.call('HGET', KEYS[1], 'version')
  if not v or v ~= ARGV[1] then return redis.error_reply('ETAGMISMATCH') end
end
return redis.call('DEL', KEYS[1])`;

/** KEYS: one per operation; ARGV: per operation 5 values: op ('s'/'d'), etag, data, ttl, first-write. */
const TX = `
local state = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local b = (i - 1) * 5
  local op, etag, fw = ARGV[b + 1], ARGV[b + 2], ARGV[b + 5]
  local v
  if state[k] ~= nil then v = state[k] else v = redis.call('HGET', k, 'version') end
  if v == false then v = nil end
  if op == 's' then
    if etag ~= '' then
      if v and v ~= etag then return redis.error_reply('ETAGMISMATCH ' .. i) end
    elseif fw == '1' and v then return redis.error_reply('ETAGMISMATCH ' .. i) end
    state[k] = 'pending'
  else
    if etag ~= '' and (not v or v ~= etag) then return redis.error_reply('ETAGMISMATCH ' .. i) end
    state[k] = false
  end
end
for i = 1, #KEYS do
  local k = KEYS[i]
  local b = (i - 1) * 5
  if ARGV[b + 1] == 's' then
    redis.call('HSET', k, 'data', ARGV[b + 3])
    redis.call('HINCRBY', k, 'version', 1)
    if ARGV[b + 4] ~= '' then redis.call('EXPIRE', k, ARGV[b + 4]) else redis.call('PERSIST', k) end
  else
    redis.call('DEL', k)
  end
end
return #KEYS`;

/**
 * KEYS: many -> one binary string, per key a big-endian header (i32 data length, -1 when the key is missing;
 * f64 version; f64 pttl) followed by the data. One reply value for the whole batch: every value that crosses
 * into the guest costs far more than reading a few bytes of it there.
 */
const MGET = `
local out = {}
for i = 1, #KEYS do
  local r = redis.call('HMGET', KEYS[i], 'data', 'version')
  if r[1] then
    out[#out + 1] = struct.pack('>idd', #r[1], tonumber(r[2]) or 0, redis.call('PTTL', KEYS[i]))
    out[#out + 1] = r[1]
  else
    out[#out + 1] = struct.pack('>idd', -1, 0, 0)
  end
end
return table.concat(out)`;

let conn: Connection | undefined;

/** Script SHA1s, loaded at init: calls send EVALSHA (40 bytes) instead of the script body. */
const sha: Record<string, string> = {};
const SCRIPTS: Record<string, string> = { SET, DEL, TX, MGET };

/** The EVALSHA command that runs script `name`. */
function evalsha(name: string, keys: Argument[], args: Argument[] = []): Argument[] {
  return [txt('EVALSHA'), txt(sha[name]!), txt(String(keys.length)), ...keys, ...args];
}

/** Runs a script by SHA, reloading it once if the server lost it (restart, SCRIPT FLUSH). */
function script(name: string, keys: Argument[], args: Argument[]): Value[] {
  const call = () => c().command(evalsha(name, keys, args));
  try {
    return call();
  } catch (err) {
    const e = hostPayload(err);
    if (e?.tag !== 'reply' || !String(e.val).includes('NOSCRIPT')) throw err;
    loadScripts();
    return call();
  }
}

function loadScripts(): void {
  for (const [name, body] of Object.entries(SCRIPTS)) {
    const v = c().command([txt('SCRIPT'), txt('LOAD'), txt(body)]);
    const first = v[0];
    sha[name] = first?.tag === 'bulk' ? utf8Decode(first.val) : first?.tag === 'status' ? first.val : '';
  }
}

const txt = (s: string): Argument => ({ tag: 'text', val: s });
const bin = (b: Uint8Array): Argument => ({ tag: 'binary', val: b });

function c(): Connection {
  if (!conn) throw stateError('other', 'not initialised');
  return conn;
}

function mapError(err: unknown): StateError {
  const e = hostPayload(err);
  if (e?.tag === 'reply' && typeof e.val === 'string' && e.val.includes('ETAGMISMATCH'))
    return stateError('etag-mismatch', 'ETag does not match the stored version');
  return fromHostError(err);
}

function checkEtag(etag: string | undefined): void {
  if (etag != null && !/^\d+$/.test(etag)) throw stateError('etag-invalid', `'${etag}' is not an ETag issued by this store`);
}

function setArgs(r: S.SetRequest): Argument[] {
  checkEtag(r.etag);
  const ttl = ttlSeconds(r.metadata);
  return evalsha(
    'SET',
    [txt(r.key)],
    [txt(r.etag ?? ''), bin(r.value), txt(ttl === undefined ? '' : String(ttl)), txt(r.concurrency === 'first-write' ? '1' : '0')],
  );
}

function delArgs(r: S.DeleteRequest): Argument[] {
  checkEtag(r.etag);
  return evalsha('DEL', [txt(r.key)], [txt(r.etag ?? '')]);
}

function each<R extends { key: string }>(rs: R[], args: (r: R) => Argument[]): S.KeyedError[] {
  const failed: S.KeyedError[] = [];
  const cmds: Argument[][] = [];
  const sent: R[] = [];
  for (const r of rs) {
    try {
      cmds.push(args(r));
      sent.push(r);
    } catch (e) {
      failed.push({ key: r.key, error: e as S.StateError });
    }
  }
  let results;
  try {
    results = c().pipeline(cmds);
    if (results.some((r) => r.tag === 'err' && r.val.includes('NOSCRIPT'))) {
      // The server lost our scripts (restart, SCRIPT FLUSH): reload them and run the writes again.
      // Safe to repeat: a command that failed with NOSCRIPT did nothing.
      loadScripts();
      const retry = sent.map((r) => args(r));
      const again = c().pipeline(retry);
      results = results.map((r, i) => (r.tag === 'err' && r.val.includes('NOSCRIPT') ? again[i]! : r));
    }
  } catch (err) {
    throw mapError(err);
  }
  results.forEach((res, i) => {
    if (res.tag === 'err') failed.push({ key: sent[i]!.key, error: mapError({ tag: 'reply', val: res.val }) as S.StateError });
  });
  return failed;
}

export const lifecycle = {
  describe() {
    return {
      types: ['state.redis'],
      version: '1.0.0',
      features: ['ETAG', 'TRANSACTIONAL', 'TTL', 'FIRST_WRITE'],
      metadataSchema: schema(
        {
          ...REDIS_CONNECTION_PROPERTIES,
          maxRetries: { type: 'integer', minimum: 0 },
          maxRetryBackoff: { type: 'string' },
          ttlInSeconds: { type: 'integer', minimum: -1, description: 'Default TTL applied when a request gives none.' },
          queryIndexes: { type: 'string' },
          failover: { type: 'boolean', default: false },
          sentinelMasterName: { type: 'string' },
          redeliverInterval: { type: 'string' },
          processingTimeout: { type: 'string' },
          redisType: { type: 'string', enum: ['node', 'cluster'], default: 'node' },
          dialTimeout: { type: 'string' },
          readTimeout: { type: 'string' },
          writeTimeout: { type: 'string' },
          poolSize: { type: 'integer', minimum: 1 },
          idleTimeout: { type: 'string' },
          useEntraID: { type: 'boolean' },
        },
        ['redisHost'],
      ),
      maxInstances: 0,
    };
  },
  init(metadata: Pairs) {
    const m = toMap(metadata);
    if ((m.redisType ?? 'node') !== 'node') throw { tag: 'invalid-metadata', val: `redisType: '${m.redisType}' is not supported (use node)` };
    try {
      conn = Connection.open(redisConnectOptions(m));
      conn.command([txt('PING')]);
      loadScripts();
    } catch (err) {
      const e = fromHostError(err);
      throw { tag: 'unavailable', val: `redisHost ${m.redisHost}: ${e.val ?? e.tag}` };
    }
    defaultTtl = m.ttlInSeconds;
  },
  ping() {
    try {
      c().command([txt('PING')]);
    } catch (err) {
      throw String(fromHostError(err).val);
    }
  },
};

let defaultTtl: string | undefined;

/** Applies the component-level default TTL when the request names none. */
function withDefaultTtl(r: S.SetRequest): S.SetRequest {
  if (defaultTtl === undefined || r.metadata.some(([k]) => k === 'ttlInSeconds')) return r;
  return { ...r, metadata: [...r.metadata, ['ttlInSeconds', defaultTtl]] };
}

const keysOf = (rs: S.GetRequest[]): Argument[] => rs.map((r) => txt(r.key));

/** Decodes the MGET script's packed reply (see MGET) into one outcome per key read. */
function decode(v: Value[], count: number): P.ReadOutcome[] {
  const blob = v[0]?.tag === 'bulk' ? v[0].val : new Uint8Array(0);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let now: number | undefined; // read once, and only for a key with a TTL: every host import costs
  const out: P.ReadOutcome[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 20 > blob.length) {
      out.push({ tag: 'failed', val: 'short reply from the MGET script' });
      continue;
    }
    const len = view.getInt32(at);
    const version = view.getFloat64(at + 4);
    const pttl = view.getFloat64(at + 12);
    at += 20;
    if (len < 0) {
      out.push({ tag: 'missing' });
      continue;
    }
    const data = blob.subarray(at, at + len);
    at += len;
    out.push({ tag: 'found', val: { data, etag: String(version), metadata: pttl > 0 ? [['ttlExpireTime', rfc3339((now ??= Number(nowMs())) + pttl)]] : [] } });
  }
  return out;
}

/** Reads keys with the MGET script, blocking on the round trip (the `get`/`bulk-get` path). */
function read(rs: S.GetRequest[]): S.BulkGetItem[] {
  let v: Value[];
  try {
    v = script('MGET', keysOf(rs), []);
  } catch (err) {
    throw mapError(err);
  }
  return decode(v, rs.length).map((o, i) => ({
    key: rs[i]!.key,
    item: o.tag === 'found' ? o.val : undefined,
    error: o.tag === 'failed' ? o.val : undefined,
  }));
}

/** Reads planned by the host: the same MGET script call, sent by the host without blocking this instance. */
export const readPlan = {
  plan(rs: S.GetRequest[]): P.ReadIo {
    c(); // initialised: the script SHAs are loaded
    return { tag: 'redis-command', val: evalsha('MGET', keysOf(rs)) };
  },
  finish(count: number, reply: P.Result<Value[], P.RedisError>): P.ReadOutcome[] | undefined {
    if (reply.tag === 'ok') return decode(reply.val, count);
    // The server lost the script (restart, SCRIPT FLUSH): `bulk-get` reloads it and reads again.
    if (reply.val.tag === 'reply' && reply.val.val.includes('NOSCRIPT')) return undefined;
    throw mapError(reply.val);
  },
};

export const stateStore = {
  get(r: S.GetRequest): S.Item | undefined {
    const [one] = read([r]);
    if (one?.error) throw stateError('other', one.error);
    return one?.item;
  },
  bulkGet(rs: S.GetRequest[]): S.BulkGetItem[] {
    return rs.length === 0 ? [] : read(rs);
  },
  set(r: S.SetRequest): void {
    const args = setArgs(withDefaultTtl(r));
    try {
      script('SET', [args[3]!], args.slice(4));
    } catch (err) {
      throw mapError(err);
    }
  },
  bulkSet(rs: S.SetRequest[]): S.KeyedError[] {
    return each(rs, (r) => setArgs(withDefaultTtl(r)));
  },
  delete(r: S.DeleteRequest): void {
    const args = delArgs(r);
    try {
      script('DEL', [args[3]!], args.slice(4));
    } catch (err) {
      throw mapError(err);
    }
  },
  bulkDelete(rs: S.DeleteRequest[]): S.KeyedError[] {
    return each(rs, delArgs);
  },
  transact(ops: S.Operation[], _m: Pairs): void {
    const keys: Argument[] = [];
    const argv: Argument[] = [];
    for (const op of ops) {
      checkEtag(op.val.etag);
      keys.push(txt(op.val.key));
      if (op.tag === 'upsert') {
        const r = withDefaultTtl(op.val);
        const ttl = ttlSeconds(r.metadata);
        argv.push(txt('s'), txt(r.etag ?? ''), bin(r.value), txt(ttl === undefined ? '' : String(ttl)), txt(r.concurrency === 'first-write' ? '1' : '0'));
      } else {
        argv.push(txt('d'), txt(op.val.etag ?? ''), txt(''), txt(''), txt('0'));
      }
    }
    try {
      script('TX', keys, argv);
    } catch (err) {
      const e = mapError(err);
      if (e.tag === 'etag-mismatch') throw stateError('etag-mismatch', "an operation's ETag or first-write condition was not met; nothing was changed");
      throw e;
    }
  },
};

/** `prefix` as a literal in a `SCAN ... MATCH` glob. */
function globLiteral(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (ch) => `\\${ch}`);
}

export const keyListing = {
  /** `SCAN` over the hashes of Dapr's layout; the cursor is SCAN's own (expired keys are gone from Redis). */
  listKeys(prefix: string, cursor: string | undefined, limit: number): L.KeyPage {
    let v: Value[];
    try {
      v = c().command([
        txt('SCAN'),
        txt(cursor ?? '0'),
        txt('MATCH'),
        txt(`${globLiteral(prefix)}*`),
        txt('COUNT'),
        txt(String(Math.max(1, limit))),
        txt('TYPE'),
        txt('hash'),
      ]);
    } catch (err) {
      throw mapError(err);
    }
    // array(2), the next cursor, array(n), n keys
    const next = v[1]?.tag === 'bulk' ? utf8Decode(v[1].val) : '0';
    const keys: string[] = [];
    for (const x of v.slice(3)) if (x.tag === 'bulk') keys.push(utf8Decode(x.val));
    return { keys, cursor: next === '0' ? undefined : next };
  },
};
