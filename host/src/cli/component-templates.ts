/**
 * The files `mortar component new` writes: a working TypeScript component for one building block, built
 * by `mortar component build` (nothing to install: the toolchain and the WIT ship with mortar).
 *
 * The templates import only WIT interfaces (`mortar:component/...` types, `mortar:host/...` functions) and
 * carry their own small helpers, so the folder builds anywhere, outside the mortar checkout too.
 */

/** The block a new component serves. */
export type TemplateBlock = 'state' | 'pubsub';

/** One file of a new component: path relative to its folder, and its text. */
export interface TemplateFile {
  readonly path: string;
  readonly text: string;
}

const STATE = (type: string) => `/**
 * ${type}: a state store kept in this instance's memory (a starting point: replace the Map with your backend).
 *
 * Implements the state-store-component world of mortar's wit/state.wit. Build it with \`npm run build\`
 * (\`mortar component build index.ts -o <name>.wasm\`) and drop the .wasm beside component.yaml in a
 * \`--resources-path\` folder.
 */
import type * as S from 'mortar:component/state-store@0.1.0';
import type { Descriptor, Metadata } from 'mortar:component/types@0.1.0';
import { log } from 'mortar:host/log@0.1.0';

/** The metadata this component accepts (JSON Schema, draft-07): the host validates the YAML against it. */
const METADATA_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    // A metadata value is always a string in the YAML; say its form with a pattern.
    maxKeys: { type: 'string', pattern: '^[1-9][0-9]{0,8}$', description: 'most keys kept (default 100000)' },
  },
  additionalProperties: false,
};

interface Entry { data: Uint8Array; etag: string }

const store = new Map<string, Entry>();
let version = 0;
let maxKeys = 100_000;

/** A WIT state-error: throw it from a state-store function to return \`err(...)\`. */
function fail(tag: 'etag-mismatch' | 'etag-invalid' | 'invalid-argument' | 'other', val: string): S.StateError {
  return { tag, val } as S.StateError;
}

function checkWrite(key: string, etag: string | undefined, concurrency: S.Concurrency): void {
  const cur = store.get(key);
  if (etag != null) {
    if (!/^[0-9]+$/.test(etag)) throw fail('etag-invalid', \`'\${etag}' is not an ETag of this store\`);
    if (!cur || cur.etag !== etag) throw fail('etag-mismatch', \`key \${key}: etag \${etag} does not match\`);
  } else if (concurrency === 'first-write' && cur) {
    throw fail('etag-mismatch', \`key \${key} already exists (first-write)\`);
  }
}

function setOne(r: S.SetRequest): void {
  checkWrite(r.key, r.etag, r.concurrency);
  if (!store.has(r.key) && store.size >= maxKeys) throw fail('other', \`the store is full (maxKeys \${maxKeys})\`);
  store.set(r.key, { data: r.value, etag: String(++version) });
}

function deleteOne(r: S.DeleteRequest): void {
  const cur = store.get(r.key);
  if (r.etag != null && (!cur || cur.etag !== r.etag)) throw fail('etag-mismatch', \`key \${r.key}: etag \${r.etag} does not match\`);
  store.delete(r.key);
}

function getOne(key: string): S.Item | undefined {
  const e = store.get(key);
  return e ? { data: e.data, etag: e.etag, metadata: [] } : undefined;
}

export const lifecycle = {
  describe(): Descriptor {
    return {
      types: ['${type}'],
      version: '0.1.0',
      features: ['ETAG', 'TRANSACTIONAL', 'FIRST_WRITE'],
      metadataSchema: JSON.stringify(METADATA_SCHEMA),
      // The data lives in this one instance: every call must reach it.
      maxInstances: 1,
    };
  },
  init(metadata: Metadata): void {
    for (const [name, value] of metadata) if (name === 'maxKeys') maxKeys = Number(value);
    log('info', \`${type} ready (maxKeys \${maxKeys})\`);
  },
  ping(): void {},
};

export const stateStore = {
  get(r: S.GetRequest): S.Item | undefined {
    return getOne(r.key);
  },
  bulkGet(rs: S.GetRequest[]): S.BulkGetItem[] {
    return rs.map((r) => ({ key: r.key, item: getOne(r.key), error: undefined }));
  },
  set(r: S.SetRequest): void {
    setOne(r);
  },
  bulkSet(rs: S.SetRequest[]): S.KeyedError[] {
    const failed: S.KeyedError[] = [];
    for (const r of rs) {
      try { setOne(r); } catch (e) { failed.push({ key: r.key, error: e as S.StateError }); }
    }
    return failed;
  },
  delete(r: S.DeleteRequest): void {
    deleteOne(r);
  },
  bulkDelete(rs: S.DeleteRequest[]): S.KeyedError[] {
    const failed: S.KeyedError[] = [];
    for (const r of rs) {
      try { deleteOne(r); } catch (e) { failed.push({ key: r.key, error: e as S.StateError }); }
    }
    return failed;
  },
  transact(ops: S.Operation[], _metadata: Metadata): void {
    // All or nothing: check every operation against a copy, then keep the copy.
    const before = new Map(store);
    const v = version;
    try {
      for (const op of ops) op.tag === 'upsert' ? setOne(op.val) : deleteOne(op.val);
    } catch (e) {
      store.clear();
      for (const [k, x] of before) store.set(k, x);
      version = v;
      throw e;
    }
  },
};
`;

const PUBSUB = (type: string) => `/**
 * ${type}: a broker kept in this instance's memory (a starting point: replace the queues with your broker).
 *
 * Implements the pubsub-component world of mortar's wit/pubsub.wit: the host calls \`fetch\` for the
 * subscriptions it serves and settles each message with \`ack\` or \`nack\`. Build it with \`npm run build\`
 * (\`mortar component build index.ts -o <name>.wasm\`) and drop the .wasm beside component.yaml in a
 * \`--resources-path\` folder.
 */
import type * as P from 'mortar:component/pubsub@0.1.0';
import type { Descriptor, Metadata } from 'mortar:component/types@0.1.0';
import { log } from 'mortar:host/log@0.1.0';

/** The metadata this component accepts (JSON Schema, draft-07): the host validates the YAML against it. */
const METADATA_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    maxQueued: { type: 'string', pattern: '^[1-9][0-9]{0,8}$', description: 'most messages queued per group (default 10000)' },
  },
  additionalProperties: false,
};

interface Message { id: number; data: Uint8Array; contentType?: string; metadata: Metadata; redeliveries: number }
interface Group { ready: Message[]; inflight: Map<string, Message> }

/** topic -> consumer group -> its queue */
const topics = new Map<string, Map<string, Group>>();
let nextId = 0;
let maxQueued = 10_000;

function fail(tag: 'invalid-argument' | 'unavailable' | 'other', val: string): P.PubsubError {
  return { tag, val } as P.PubsubError;
}

function groupOf(topic: string, group: string, create: boolean): Group | undefined {
  let groups = topics.get(topic);
  if (!groups && create) topics.set(topic, (groups = new Map()));
  let g = groups?.get(group);
  if (!g && create) groups!.set(group, (g = { ready: [], inflight: new Map() }));
  return g;
}

function publishOne(r: P.PublishRequest): void {
  if (r.topic === '') throw fail('invalid-argument', 'topic is empty');
  const id = ++nextId;
  // A message goes to every group subscribed now; with no subscriber it is dropped (as Dapr's in-memory broker).
  for (const g of topics.get(r.topic)?.values() ?? []) {
    if (g.ready.length >= maxQueued) throw fail('unavailable', \`topic \${r.topic}: queue full (maxQueued \${maxQueued})\`);
    g.ready.push({ id, data: r.data, contentType: r.contentType ?? undefined, metadata: r.metadata, redeliveries: 0 });
  }
}

export const lifecycle = {
  describe(): Descriptor {
    return {
      types: ['${type}'],
      version: '0.1.0',
      features: [],
      metadataSchema: JSON.stringify(METADATA_SCHEMA),
      // The queues live in this one instance: every call must reach it.
      maxInstances: 1,
    };
  },
  init(metadata: Metadata): void {
    for (const [name, value] of metadata) if (name === 'maxQueued') maxQueued = Number(value);
    log('info', \`${type} ready (maxQueued \${maxQueued})\`);
  },
  ping(): void {},
};

export const pubsub = {
  publish(r: P.PublishRequest): void {
    publishOne(r);
  },
  bulkPublish(rs: P.PublishRequest[]): P.BulkFailure[] {
    const failed: P.BulkFailure[] = [];
    rs.forEach((r, index) => {
      try { publishOne(r); } catch (e) { failed.push({ index, error: (e as { val?: string }).val ?? String(e) }); }
    });
    return failed;
  },
  subscribe(s: P.Subscription): void {
    groupOf(s.topic, s.group, true);
  },
  fetch(subs: P.Subscription[], max: number, _waitMs: number): P.Delivery[] {
    // No way to wait here: return at once, the host paces its polling.
    const out: P.Delivery[] = [];
    for (const s of subs) {
      const g = groupOf(s.topic, s.group, false);
      while (g && out.length < max && g.ready.length > 0) {
        const m = g.ready.shift()!;
        g.inflight.set(String(m.id), m);
        out.push({ topic: s.topic, group: s.group, receipt: String(m.id), data: m.data, contentType: m.contentType, metadata: m.metadata, redeliveries: m.redeliveries });
      }
    }
    return out;
  },
  ack(refs: P.SettleRef[]): void {
    for (const r of refs) groupOf(r.topic, r.group, false)?.inflight.delete(r.receipt);
  },
  nack(refs: P.SettleRef[], _delayMs: number): void {
    for (const r of refs) {
      const g = groupOf(r.topic, r.group, false);
      const m = g?.inflight.get(r.receipt);
      if (!g || !m) continue;
      g.inflight.delete(r.receipt);
      m.redeliveries++;
      g.ready.unshift(m);
    }
  },
  close(s: P.Subscription): void {
    const g = groupOf(s.topic, s.group, false);
    if (!g) return;
    const back = [...g.inflight.values()].sort((a, b) => a.id - b.id);
    g.inflight.clear();
    g.ready.unshift(...back);
  },
};
`;

/** What a new project's package.json and tsconfig.json differ in between a component and a workload. */
export interface ProjectOptions {
  /** The package name; the build writes `<name>.wasm`. */
  name: string;
  /** The package.json description. */
  description: string;
  /** The package.json `mortar` field: `mortar component build` reads the block or the workload kind from here. */
  mortar: Record<string, unknown>;
  /** The tsconfig `lib`. */
  lib: string[];
  /** The tsconfig `paths` (omitted when not given). */
  paths?: Record<string, string[]>;
}

/**
 * The package.json and tsconfig.json of a new project: `npm run build` builds `index.ts` into `<name>.wasm`, `npm run
 * check` type-checks against the WIT's TypeScript declarations in types/ (needs a typescript install).
 */
export function projectFiles(o: ProjectOptions): [TemplateFile, TemplateFile] {
  const pkg = {
    name: o.name,
    version: '0.1.0',
    private: true,
    type: 'module',
    description: o.description,
    mortar: o.mortar,
    scripts: { build: `mortar component build index.ts -o ${o.name}.wasm`, check: 'tsc -p tsconfig.json' },
  };
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      lib: o.lib,
      types: [],
      ...(o.paths ? { paths: o.paths } : {}),
    },
    include: ['*.ts', 'types/**/*.d.ts'],
  };
  return [
    { path: 'package.json', text: `${JSON.stringify(pkg, null, 2)}\n` },
    { path: 'tsconfig.json', text: `${JSON.stringify(tsconfig, null, 2)}\n` },
  ];
}

/** The files of a new component `name` serving `type` on `block`. */
export function templateFiles(name: string, block: TemplateBlock, type: string): TemplateFile[] {
  const [packageJson, tsconfig] = projectFiles({
    name,
    description: `A mortar ${block === 'state' ? 'state store' : 'pub/sub'} component serving ${type}`,
    mortar: { block },
    lib: ['ES2022'],
  });
  const yaml = `# A Dapr Component resource for this component: put it and ${name}.wasm in a --resources-path folder.
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${name}
spec:
  type: ${type}
  version: v1
  metadata: []
`;
  return [
    { path: 'index.ts', text: block === 'state' ? STATE(type) : PUBSUB(type) },
    packageJson,
    tsconfig,
    { path: 'component.yaml', text: yaml },
    { path: '.gitignore', text: '*.wasm\n' },
  ];
}
