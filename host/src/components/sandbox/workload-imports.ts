/**
 * The key-value, variables and config imports of a workload instance, as the guest sees them: each call is
 * forwarded to the host (`call`, the sandbox's synchronous bridge) as one operation of `WorkloadOp`, and the
 * host's `{tag, val}` errors are rendered in each interface's own error variant.
 *
 * Interfaces served (jco names imports without their version; `checkWorkloadImports` checks the versions):
 * - `fermyon:spin/key-value@2.0.0` (`store`, what Spin's JavaScript SDKs import) and `fermyon:spin/variables@2.0.0`;
 * - the draft `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`) and `wasi:config/store@0.2.0-draft-2024-09-27`;
 * - `mortar:app@0.1.x` (`app-guest-imports.ts`: its own operations, `app.<interface>.<function>`).
 *
 * The host answers: `kv.open [label]`; `kv.get|kv.exists|kv.delete [label, key]`; `kv.set [label, key, bytes]`;
 * `kv.read [label, key]` -> `{value?, etag?}`; `kv.swap [label, key, etag?, bytes]` (a compare-and-swap: fails
 * with `cas-failed` when the key changed since it was read); `kv.increment [label, key, delta]` -> the new
 * value; `kv.get-many|kv.delete-many [label, keys]`; `kv.set-many [label, pairs]`; `kv.keys [label]` -> every
 * key; `kv.list-keys [label, cursor?]` -> `{keys, cursor?}` (one page);
 * `var.get [name]`; `config.get [key]`; `config.get-all []`; `http.send [request]`.
 */

import { APP_INTERFACES } from './app-guest-imports.js';
import { guarded, map, type Maybe } from './maybe.js';

/**
 * Performs one host operation; throws an `Error` whose `payload` is the host's `{tag, val}`. In an async
 * workload worker (`async-workload-worker.ts`) it answers a promise, which rejects so, and each import below
 * then answers a promise too: the JSPI glue suspends the guest until it settles.
 */
export type HostCall = (op: string, args: unknown[]) => unknown;

/** The host's error of a failed `HostCall`, if that is what `err` is. */
function hostError(err: unknown): { tag: string; val?: unknown } | undefined {
  const p = (err as { payload?: unknown })?.payload;
  return p && typeof p === 'object' && 'tag' in p ? (p as { tag: string; val?: unknown }) : undefined;
}

/**
 * Runs `f`, rethrowing a host error (thrown, or the rejection of the promise `f` answers) as `render` makes it
 * (the interface's variant), anything else as is.
 */
function rendered<T>(f: () => Maybe<T>, render: (e: { tag: string; val?: unknown }) => unknown): Maybe<T> {
  return guarded(f, (err) => {
    const e = hostError(err);
    if (!e) throw err;
    throw render(e);
  });
}

/** A key-value error in the shape shared by fermyon:spin/key-value and wasi:keyvalue/store. */
function kvError(e: { tag: string; val?: unknown }): { tag: string; val?: string } {
  if (e.tag === 'no-such-store' || e.tag === 'access-denied') return { tag: e.tag };
  return { tag: 'other', val: typeof e.val === 'string' ? `${e.tag}: ${e.val}` : e.tag };
}

export function workloadImports(call: HostCall): Record<string, unknown> {
  const kv = <T>(op: string, args: unknown[]): Maybe<T> => rendered(() => call(op, args) as Maybe<T>, kvError);
  /**
   * Labels the host let this instance open. The answer cannot change while the worker lives (a label's store
   * and the guest's `key_value_stores` are fixed per workload, and the host remembers a store it found), so a
   * later `open` of the same label (every request of a Spin guest opens its store) is answered here, without a
   * host round trip.
   */
  const opened = new Set<string>();
  const open = (label: string): Maybe<void> => {
    if (opened.has(label)) return;
    return map(kv('kv.open', [label]), () => {
      opened.add(label);
    });
  };

  /** What `fermyon:spin/key-value.store` and `wasi:keyvalue/store.bucket` share: one label's keys. */
  class Keys {
    constructor(readonly label: string) {}
    get(key: string): Maybe<Uint8Array | undefined> {
      return map(kv<Uint8Array | undefined>('kv.get', [this.label, key]), (v) => v ?? undefined);
    }
    set(key: string, value: Uint8Array): Maybe<void> {
      return map(kv('kv.set', [this.label, key, value]), () => undefined);
    }
    delete(key: string): Maybe<void> {
      return map(kv('kv.delete', [this.label, key]), () => undefined);
    }
    exists(key: string): Maybe<boolean> {
      return kv<boolean>('kv.exists', [this.label, key]);
    }
  }

  /** `fermyon:spin/key-value.store`. */
  class Store extends Keys {
    static open(label: string): Maybe<Store> {
      return map(open(label), () => new Store(label));
    }
    getKeys(): Maybe<string[]> {
      return kv<string[]>('kv.keys', [this.label]);
    }
  }

  /** `wasi:keyvalue/store.bucket`. */
  class Bucket extends Keys {
    listKeys(cursor?: string): Maybe<{ keys: string[]; cursor?: string }> {
      return map(kv<{ keys: string[]; cursor?: string }>('kv.list-keys', [this.label, cursor ?? undefined]), (page) => ({
        keys: page.keys,
        cursor: page.cursor ?? undefined,
      }));
    }
  }

  /** `wasi:keyvalue/atomics.cas`: a key as read, with the ETag it had then. */
  class Cas {
    private constructor(
      readonly bucket: Bucket,
      readonly key: string,
      readonly value: Uint8Array | undefined,
      readonly etag: string | undefined,
    ) {}
    static read(bucket: Bucket, key: string): Maybe<Cas> {
      return map(kv<{ value?: Uint8Array; etag?: string }>('kv.read', [bucket.label, key]), (r) => new Cas(bucket, key, r.value, r.etag));
    }
    static new(bucket: Bucket, key: string): Maybe<Cas> {
      return Cas.read(bucket, key);
    }
    current(): Uint8Array | undefined {
      return this.value;
    }
  }

  return {
    'fermyon:spin/key-value': { Store },
    'fermyon:spin/variables': {
      get: (name: string) =>
        rendered(
          () => call('var.get', [name]) as Maybe<string>,
          (e) => (['invalid-name', 'undefined', 'provider'].includes(e.tag) ? e : { tag: 'other', val: String(e.val ?? e.tag) }),
        ),
    },
    'wasi:keyvalue/store': {
      Bucket,
      open: (identifier: string) => map(open(identifier), () => new Bucket(identifier)),
    },
    'wasi:keyvalue/atomics': {
      Cas,
      increment: (bucket: Bucket, key: string, delta: bigint) => map(kv<string>('kv.increment', [bucket.label, key, String(delta)]), BigInt),
      swap: (cas: Cas, value: Uint8Array): Maybe<void> => {
        const fail = (err: unknown): Maybe<never> => {
          const e = hostError(err);
          if (!e) throw err;
          // The key changed since it was read: the guest gets a fresh read to try again with.
          if (e.tag === 'cas-failed')
            return map(Cas.read(cas.bucket, cas.key), (fresh) => {
              throw { tag: 'cas-failed', val: fresh };
            });
          throw { tag: 'store-error', val: kvError(e) };
        };
        return guarded(() => map(call('kv.swap', [cas.bucket.label, cas.key, cas.etag, value]), () => undefined), fail);
      },
    },
    'wasi:keyvalue/batch': {
      getMany: (bucket: Bucket, keys: string[]) =>
        map(kv<Array<Uint8Array | undefined>>('kv.get-many', [bucket.label, keys]), (list) => list.map((v, i) => (v === undefined ? undefined : [keys[i], v]))),
      setMany: (bucket: Bucket, pairs: Array<[string, Uint8Array]>) => map(kv('kv.set-many', [bucket.label, pairs]), () => undefined),
      deleteMany: (bucket: Bucket, keys: string[]) => map(kv('kv.delete-many', [bucket.label, keys]), () => undefined),
    },
    'wasi:config/store': {
      get: (key: string) => rendered(() => map(call('config.get', [key]) as Maybe<string | undefined>, (v) => v ?? undefined), configError),
      getAll: () => rendered(() => call('config.get-all', []) as Maybe<Array<[string, string]>>, configError),
    },
  };
}

function configError(e: { tag: string; val?: unknown }): { tag: string; val: string } {
  return { tag: 'upstream', val: typeof e.val === 'string' ? e.val : e.tag };
}

/**
 * The interface versions a workload may import, by package: an import outside these is refused at load, so a
 * guest built for an interface mortar does not serve fails at start, not at its first call. Any 0.2.x of WASI
 * links (they are one surface); the Spin and draft interfaces at the versions Spin hosts them.
 */
const SERVED: ReadonlyArray<readonly [pkg: RegExp, versions: RegExp, interfaces: ReadonlySet<string>]> = [
  [/^wasi:io$/, /^0\.2\.\d+$/, new Set(['error', 'poll', 'streams'])],
  [
    /^wasi:cli$/,
    /^0\.2\.\d+$/,
    new Set(['environment', 'exit', 'stdin', 'stdout', 'stderr', 'terminal-input', 'terminal-output', 'terminal-stdin', 'terminal-stdout', 'terminal-stderr']),
  ],
  [/^wasi:clocks$/, /^0\.2\.\d+$/, new Set(['monotonic-clock', 'wall-clock'])],
  [/^wasi:random$/, /^0\.2\.\d+$/, new Set(['random', 'insecure', 'insecure-seed'])],
  [/^wasi:filesystem$/, /^0\.2\.\d+$/, new Set(['types', 'preopens'])],
  [/^wasi:http$/, /^0\.2\.\d+$/, new Set(['types', 'outgoing-handler'])],
  [/^fermyon:spin$/, /^2\.0\.\d+$/, new Set(['key-value', 'variables'])],
  [/^wasi:keyvalue$/, /^0\.2\.0-draft2$/, new Set(['store', 'atomics', 'batch'])],
  [/^wasi:config$/, /^0\.2\.0-draft(-2024-09-27)?$/, new Set(['store'])],
  [/^mortar:app$/, /^0\.1\.\d+$/, new Set(['types', ...Object.keys(APP_INTERFACES)])],
];

/**
 * The first import of `imports` (versioned, as jco lists them: `wasi:http/types@0.2.3`) that a workload
 * instance does not serve, with why; undefined when all are served.
 */
export function unservedImport(imports: readonly string[]): string | undefined {
  for (const name of imports) {
    const m = /^([^/]+)\/([^@]+)(?:@(.+))?$/.exec(name);
    if (!m) return `${name}: not an interface import`;
    const [, pkg, iface, version] = m as unknown as [string, string, string, string | undefined];
    const row = SERVED.find(([p]) => p.test(pkg));
    if (!row?.[2].has(iface)) return `${name}: not an interface mortar serves to workloads`;
    if (version === undefined || !row![1].test(version)) return `${name}: version ${version ?? '(none)'} is not one mortar serves for ${pkg}`;
  }
  return undefined;
}
