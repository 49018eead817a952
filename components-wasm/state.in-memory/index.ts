// world: listing-state-store-component
/**
 * state.in-memory: keeps state in this instance's own memory (Dapr's `state.in-memory`).
 * Declares max-instances 1 so that every call reaches the one instance holding the data.
 */
import type * as S from 'mortar:component/state-store@0.1.0';
import type * as L from 'mortar:component/key-listing@0.1.0';
import { rfc3339, schema, stateError, ttlSeconds, type Pairs } from '../lib/guest.js';
import { nowMs } from 'mortar:host/clock@0.1.0';

interface Entry {
  data: Uint8Array;
  etag: string;
  expires?: number;
}

const store = new Map<string, Entry>();
let version = 0;
let writes = 0;

/** The entry at `key` unless it has expired; `now` is read only for an entry that expires (a clock read is a host call). */
function live(key: string, now: number | (() => number)): Entry | undefined {
  const e = store.get(key);
  if (e && e.expires !== undefined && e.expires <= (typeof now === 'number' ? now : now())) {
    store.delete(key);
    return undefined;
  }
  return e;
}

function sweep(now: number): void {
  if (++writes % 1024 !== 0) return;
  for (const [k, e] of store) if (e.expires !== undefined && e.expires <= now) store.delete(k);
}

function checkEtag(etag: string | undefined): void {
  if (etag != null && !/^\d+$/.test(etag)) throw stateError('etag-invalid', `'${etag}' is not an ETag issued by this store`);
}

function item(e: Entry): S.Item {
  const metadata: Pairs = e.expires !== undefined ? [['ttlExpireTime', rfc3339(e.expires)]] : [];
  return { data: e.data, etag: e.etag, metadata };
}

/** Validates a write against the current entry; throws etag-mismatch. */
function admit(cur: Entry | undefined, etag: string | undefined, concurrency: S.Concurrency, key: string): void {
  checkEtag(etag);
  if (etag != null) {
    if (!cur || cur.etag !== etag) throw stateError('etag-mismatch', `key ${key}: etag ${etag} does not match`);
  } else if (concurrency === 'first-write' && cur) {
    throw stateError('etag-mismatch', `key ${key} already exists (first-write)`);
  }
}

function prepareSet(r: S.SetRequest, now: number): () => void {
  const ttl = ttlSeconds(r.metadata, now);
  admit(live(r.key, now), r.etag, r.concurrency, r.key);
  return () => {
    store.set(r.key, { data: r.value, etag: String(++version), expires: ttl === undefined ? undefined : now + ttl * 1000 });
  };
}

function prepareDelete(r: S.DeleteRequest, now: number): () => void {
  const cur = live(r.key, now);
  checkEtag(r.etag);
  if (r.etag != null && (!cur || cur.etag !== r.etag)) throw stateError('etag-mismatch', `key ${r.key}: etag ${r.etag} does not match`);
  return () => {
    store.delete(r.key);
  };
}

const t = () => Number(nowMs());

export const lifecycle = {
  describe() {
    return {
      types: ['state.in-memory'],
      version: '1.0.0',
      features: ['ETAG', 'TRANSACTIONAL', 'TTL', 'FIRST_WRITE'],
      metadataSchema: schema({}),
      maxInstances: 1,
    };
  },
  init(_metadata: Pairs) {},
  ping() {},
};

export const stateStore = {
  get(r: S.GetRequest): S.Item | undefined {
    const e = live(r.key, t);
    return e ? item(e) : undefined;
  },
  bulkGet(rs: S.GetRequest[]): S.BulkGetItem[] {
    const now = t();
    return rs.map((r) => {
      const e = live(r.key, now);
      return { key: r.key, item: e ? item(e) : undefined, error: undefined };
    });
  },
  set(r: S.SetRequest): void {
    const now = t();
    prepareSet(r, now)();
    sweep(now);
  },
  bulkSet(rs: S.SetRequest[]): S.KeyedError[] {
    const now = t();
    const failed: S.KeyedError[] = [];
    for (const r of rs) {
      try {
        prepareSet(r, now)();
      } catch (e) {
        failed.push({ key: r.key, error: e as S.StateError });
      }
    }
    return failed;
  },
  delete(r: S.DeleteRequest): void {
    prepareDelete(r, t())();
  },
  bulkDelete(rs: S.DeleteRequest[]): S.KeyedError[] {
    const now = t();
    const failed: S.KeyedError[] = [];
    for (const r of rs) {
      try {
        prepareDelete(r, now)();
      } catch (e) {
        failed.push({ key: r.key, error: e as S.StateError });
      }
    }
    return failed;
  },
  transact(ops: S.Operation[], _metadata: Pairs): void {
    const now = t();
    // Check every operation against the state the earlier operations leave behind, then apply all.
    const shadow = new Map<string, Entry | undefined>();
    const view = (k: string) => (shadow.has(k) ? shadow.get(k) : live(k, now));
    const apply: Array<() => void> = [];
    for (const op of ops) {
      if (op.tag === 'upsert') {
        const r = op.val;
        const ttl = ttlSeconds(r.metadata, now);
        admit(view(r.key), r.etag, r.concurrency, r.key);
        const e: Entry = { data: r.value, etag: '', expires: ttl === undefined ? undefined : now + ttl * 1000 };
        shadow.set(r.key, { ...e, etag: 'pending' });
        apply.push(() => {
          store.set(r.key, { ...e, etag: String(++version) });
        });
      } else {
        const r = op.val;
        checkEtag(r.etag);
        const cur = view(r.key);
        if (r.etag != null && (!cur || cur.etag !== r.etag)) throw stateError('etag-mismatch', `key ${r.key}: etag ${r.etag} does not match`);
        shadow.set(r.key, undefined);
        apply.push(() => {
          store.delete(r.key);
        });
      }
    }
    for (const f of apply) f();
  },
};

export const keyListing = {
  /** In key order; the cursor is the last key of the page, so a key deleted meanwhile moves nothing. */
  listKeys(prefix: string, cursor: string | undefined | null, limit: number): L.KeyPage {
    const now = t();
    const keys: string[] = [];
    for (const k of store.keys()) if (k.startsWith(prefix) && (cursor == null || k > cursor) && live(k, now)) keys.push(k);
    keys.sort();
    const page = keys.slice(0, Math.max(1, limit));
    return { keys: page, cursor: keys.length > page.length ? page[page.length - 1] : undefined };
  },
};
