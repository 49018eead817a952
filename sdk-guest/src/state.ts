/**
 * The state building block: keys of this workload's app id in a named state store (`mortar:app/state`). Values
 * go in as bytes, text or JSON and come back as bytes with `text()` and `json()` readers; ETags make
 * read-modify-write safe.
 */
import * as wit from 'mortar:app/state@0.1.0';
import { type Body, json, pairs, text, toBytes } from './bytes.js';
import { call } from './errors.js';

/** Options of a write or delete. */
export interface WriteOptions {
  /** The ETag read with the value: the write happens only if it is still current (else `etag-mismatch`). */
  etag?: string;
  /** `first-write`: without an ETag, only if the key does not exist yet. Default `last-write`. */
  concurrency?: wit.Concurrency;
  /** Default `eventual`. */
  consistency?: wit.Consistency;
  /** Seconds until the key expires; `-1` for never. */
  ttlInSeconds?: number;
  /** Request metadata for the store. */
  metadata?: Record<string, string>;
}

/** A stored value. */
export class StateItem {
  constructor(
    /** The bytes exactly as saved. */
    readonly value: Uint8Array,
    /** The current ETag: pass it to `save` or `delete` to make them conditional. */
    readonly etag: string | undefined,
    /** Response metadata (`ttlExpireTime` for a key saved with a TTL). */
    readonly metadata: Record<string, string>,
  ) {}
  /** The value as UTF-8 text. */
  text(): string {
    return text(this.value);
  }
  /** The value parsed as JSON. */
  json<T = unknown>(): T {
    return json<T>(this.value, 'state value');
  }
}

/** One key to save in `saveMany` or a transaction. */
export interface SaveEntry extends WriteOptions {
  key: string;
  value: Body;
}

/** One operation of `transaction`. */
export type TransactionOp = ({ op: 'upsert' } & SaveEntry) | ({ op: 'delete'; key: string } & Omit<WriteOptions, 'ttlInSeconds'>);

function saveItem(e: SaveEntry): wit.SaveItem {
  return {
    key: e.key,
    value: toBytes(e.value).bytes,
    etag: e.etag,
    concurrency: e.concurrency ?? 'last-write',
    consistency: e.consistency ?? 'eventual',
    ttlInSeconds: e.ttlInSeconds === undefined ? undefined : BigInt(e.ttlInSeconds),
    metadata: pairs(e.metadata),
  };
}

function deleteItem(key: string, o: Omit<WriteOptions, 'ttlInSeconds'> = {}): wit.DeleteItem {
  return { key, etag: o.etag, concurrency: o.concurrency ?? 'last-write', consistency: o.consistency ?? 'eventual', metadata: pairs(o.metadata) };
}

function item(i: wit.Item): StateItem {
  return new StateItem(i.value, i.etag, Object.fromEntries(i.metadata));
}

/** A state store, by its component name (`statestore` is the default one). */
export class StateStore {
  constructor(readonly name = 'statestore') {}

  /** The value of `key`, or `undefined` when it does not exist. */
  get(key: string, options: { consistency?: wit.Consistency; metadata?: Record<string, string> } = {}): StateItem | undefined {
    const i = call(() => wit.get(this.name, key, options.consistency ?? 'eventual', pairs(options.metadata)));
    return i && item(i);
  }

  /** Several keys at once: a map of the keys that exist. Throws if any key alone failed. */
  getMany(keys: string[], metadata?: Record<string, string>): Map<string, StateItem> {
    const out = new Map<string, StateItem>();
    for (const b of call(() => wit.getBulk(this.name, keys, pairs(metadata)))) {
      if (b.error !== undefined) throw new Error(`state ${this.name}: key ${b.key}: ${b.error}`);
      if (b.item) out.set(b.key, item(b.item));
    }
    return out;
  }

  /** Saves `value` (bytes, text, or anything else as JSON) under `key`. */
  save(key: string, value: Body, options: WriteOptions = {}): void {
    call(() => wit.save(this.name, [saveItem({ ...options, key, value })]));
  }

  /** Saves several keys, each independently. */
  saveMany(entries: SaveEntry[]): void {
    call(() => wit.save(this.name, entries.map(saveItem)));
  }

  /** Deletes `key` (a key that does not exist is no error, unless an ETag is given). */
  delete(key: string, options: Omit<WriteOptions, 'ttlInSeconds'> = {}): void {
    call(() => wit.delete(this.name, deleteItem(key, options)));
  }

  /** Applies every operation atomically, in order: on any failure (an ETag mismatch) none takes effect. */
  transaction(ops: TransactionOp[], metadata?: Record<string, string>): void {
    const witOps = ops.map((o): wit.TransactionOp => (o.op === 'upsert' ? { tag: 'upsert', val: saveItem(o) } : { tag: 'delete', val: deleteItem(o.key, o) }));
    call(() => wit.transact(this.name, witOps, pairs(metadata)));
  }
}

/** The state store named `name` (default `statestore`). */
export function state(name?: string): StateStore {
  return new StateStore(name);
}
