/**
 * The building blocks mortar serves, one row each: what the build, the loader, the registry, the sandbox and
 * the API know about a block, in one place (Spin's "factors" are the model). Adding a block is a folder for
 * its code (`host/src/blocks/<id>/`, with the one adapter that calls its components) and a row here, plus
 * its WIT, API methods, routes and wiring (docs/architecture.md lists every file).
 *
 * Pure data and a few pure functions over it, with no imports: every layer may read it (api, blocks,
 * components and their sandbox pool, the CLI and the build scripts). `scripts/build.mjs` generates the WIT types of every
 * world before `tsc` has run, so it reads the worlds from this source: each is a `world: '<name>'` entry.
 */

/** One WIT world a block's components may be built for (package `mortar:component`, in `wit/`). */
export interface BlockWorld {
  /** The world's name (`state-store-component`). */
  readonly world: string;
  /** Its name for `mortar component build --block` (`state`, `planned-state`). */
  readonly build: string;
  /** The block's interfaces it exports, besides `lifecycle` (WIT names, keys of `BuildingBlock.interfaces`). */
  readonly exports: readonly string[];
}

/**
 * Reads a component may serve as planned reads (see `sandbox/planned-reads.ts`): the sandbox worker knows only
 * this, not which block it is.
 */
export interface PlannedRead {
  /** The export (jco's name) whose reads may be planned. */
  readonly iface: string;
  /** Its function reading one request (the first argument), answering the item or `undefined`. */
  readonly single: string;
  /** Its function reading a list of requests (the first argument), answering `{key, item?, error?}` per request. */
  readonly batch: string;
  /** The export (jco's name) that plans and finishes them (`plan`, `finish`); a component exporting it plans. */
  readonly plan: string;
}

/**
 * Invocations a component may serve as planned invocations (see `sandbox/planned-invokes.ts`): the sandbox
 * worker knows only this, not which block it is.
 */
export interface PlannedInvoke {
  /** The export (jco's name) whose calls may be planned. */
  readonly iface: string;
  /** Its function serving one request (the first argument), answering a result or `undefined`. */
  readonly fn: string;
  /** The export (jco's name) that plans and finishes them (`plan`, `finish`); a component exporting it plans. */
  readonly plan: string;
}

/** What a block needs from the app channel: the app's subscriptions, or deliveries of input-binding events. */
export type AppChannelNeed = 'subscriptions' | 'input-bindings';

/** One building block. */
export interface BuildingBlock {
  /** Its id (`state`): the folder of its host code and the prefix of its Dapr component types. */
  readonly id: string;
  /** The prefix of every Dapr component type it serves (`state.`). */
  readonly typePrefix: string;
  /** Its WIT interfaces a component exports, each with the name jco gives its export object. */
  readonly interfaces: Readonly<Record<string, string>>;
  /** A component exporting any of these interfaces (WIT names) serves this block. */
  readonly identifiedBy: readonly string[];
  /** The worlds its components are built for. */
  readonly worlds: readonly BlockWorld[];
  /** The world of a component folder whose entry has no `// world: <name>` line. */
  readonly defaultWorld: string;
  /** Metadata keys the host interprets itself (Dapr does so in the runtime): removed before the component's schema sees the metadata. */
  readonly hostMetadata: readonly string[];
  /** Host metadata keys that, set to `true`, add a Dapr feature to the component's (`actorStateStore` -> `ACTOR`). */
  readonly metadataFeatures: Readonly<Record<string, string>>;
  /** The HTTP API path segments it serves, after the version (`/v1.0/state/...` is `state`). */
  readonly httpApi: readonly string[];
  /** What it needs from the app channel. */
  readonly appChannel: readonly AppChannelNeed[];
  /** Whether it makes long calls (a long-polling fetch) on a side pool of its own (`ActiveComponent.sidePool`). */
  readonly sidePool: boolean;
  /** Reads its components may plan (`read-plan`). */
  readonly plannedRead?: PlannedRead;
  /** Calls its components may plan (`invoke-plan`). */
  readonly plannedInvoke?: PlannedInvoke;
}

/** The interface every component exports, whatever its block, and jco's name for it. */
export const LIFECYCLE = { wit: 'lifecycle', js: 'lifecycle' } as const;

/** The WIT package of the component worlds and interfaces. */
export const COMPONENT_PACKAGE = 'mortar:component';

/** Every building block, in the order they are tried and listed. */
export const BUILDING_BLOCKS = [
  {
    id: 'state',
    typePrefix: 'state.',
    interfaces: { 'state-store': 'stateStore', 'read-plan': 'readPlan', 'key-listing': 'keyListing' },
    identifiedBy: ['state-store'],
    worlds: [
      { world: 'state-store-component', build: 'state', exports: ['state-store'] },
      { world: 'listing-state-store-component', build: 'listing-state', exports: ['state-store', 'key-listing'] },
      { world: 'planned-state-store-component', build: 'planned-state', exports: ['state-store', 'read-plan'] },
      { world: 'planned-listing-state-store-component', build: 'planned-listing-state', exports: ['state-store', 'read-plan', 'key-listing'] },
    ],
    defaultWorld: 'state-store-component',
    hostMetadata: ['keyPrefix', 'actorStateStore'],
    metadataFeatures: { actorStateStore: 'ACTOR' },
    httpApi: ['state'],
    appChannel: [],
    sidePool: false,
    plannedRead: { iface: 'stateStore', single: 'get', batch: 'bulkGet', plan: 'readPlan' },
  },
  {
    id: 'pubsub',
    typePrefix: 'pubsub.',
    interfaces: { pubsub: 'pubsub' },
    identifiedBy: ['pubsub'],
    worlds: [{ world: 'pubsub-component', build: 'pubsub', exports: ['pubsub'] }],
    defaultWorld: 'pubsub-component',
    // Topic scoping is enforced by the host (Dapr: pkg/runtime/pubsub/scopes.go).
    hostMetadata: ['allowedTopics', 'publishingScopes', 'subscriptionScopes', 'protectedTopics'],
    metadataFeatures: {},
    httpApi: ['publish'],
    appChannel: ['subscriptions'],
    sidePool: true,
  },
  {
    id: 'bindings',
    typePrefix: 'bindings.',
    interfaces: { 'output-binding': 'outputBinding', 'input-binding': 'inputBinding', 'invoke-plan': 'invokePlan' },
    identifiedBy: ['output-binding', 'input-binding'],
    worlds: [
      { world: 'binding-component', build: 'bindings', exports: ['output-binding', 'input-binding'] },
      { world: 'output-binding-component', build: 'output-binding', exports: ['output-binding'] },
      { world: 'planned-output-binding-component', build: 'planned-output-binding', exports: ['output-binding', 'invoke-plan'] },
      { world: 'input-binding-component', build: 'input-binding', exports: ['input-binding'] },
    ],
    defaultWorld: 'binding-component',
    // Where input events go and which way the binding works (Dapr: pkg/runtime/processor/binding).
    hostMetadata: ['direction', 'route'],
    metadataFeatures: {},
    httpApi: ['bindings'],
    appChannel: ['input-bindings'],
    sidePool: true,
    plannedInvoke: { iface: 'outputBinding', fn: 'invoke', plan: 'invokePlan' },
  },
] as const satisfies readonly BuildingBlock[];

/** A building block's id (`state`, `pubsub`, `bindings`). */
export type BlockId = (typeof BUILDING_BLOCKS)[number]['id'];

/** A world's name for `mortar component build --block` (`state`, `planned-state`, `pubsub`, ...). */
export type BuildName = (typeof BUILDING_BLOCKS)[number]['worlds'][number]['build'];

/** The row of each block, by id. */
export const BLOCKS = Object.fromEntries(BUILDING_BLOCKS.map((b) => [b.id, b])) as {
  readonly [Id in BlockId]: Extract<(typeof BUILDING_BLOCKS)[number], { id: Id }>;
};

/** One value per block, by id: `f` of each row. */
export function perBlock<T>(f: (block: (typeof BUILDING_BLOCKS)[number]) => T): { readonly [Id in BlockId]: T } {
  const out = {} as Record<BlockId, T>;
  for (const b of BUILDING_BLOCKS) out[b.id] = f(b);
  return out;
}

/** Every world a component may be built for, with its block, in the table's order. */
export const COMPONENT_WORLDS: ReadonlyArray<BlockWorld & { readonly build: BuildName; readonly block: BlockId }> = BUILDING_BLOCKS.flatMap((b) =>
  b.worlds.map((w) => ({ ...w, block: b.id })),
);

/** The block whose components export one of `interfaces` (WIT names without package or version), if any. */
export function blockExporting(interfaces: readonly string[]): BlockId | undefined {
  return BUILDING_BLOCKS.find((b) => b.identifiedBy.some((i) => interfaces.includes(i)))?.id;
}

/** The planned reads a component with `exports` (jco's export names) serves, if it exports a plan. */
export function plannedReadOf(exports: readonly string[]): PlannedRead | undefined {
  for (const b of BUILDING_BLOCKS as readonly BuildingBlock[]) if (b.plannedRead && exports.includes(b.plannedRead.plan)) return b.plannedRead;
  return undefined;
}

/** The planned invocations a component with `exports` (jco's export names) serves, if it exports a plan. */
export function plannedInvokeOf(exports: readonly string[]): PlannedInvoke | undefined {
  for (const b of BUILDING_BLOCKS as readonly BuildingBlock[]) if (b.plannedInvoke && exports.includes(b.plannedInvoke.plan)) return b.plannedInvoke;
  return undefined;
}
