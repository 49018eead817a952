import { MortarError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BridgeHost } from '../capabilities/bridge.js';
import type { CapabilityHost } from '../capabilities/capability-host.js';
import { ComponentCallError, InstancePool } from './sandbox/pool.js';
import { LifecycleClient } from './lifecycle-client.js';
import { forgetModules } from './sandbox/compiled-modules.js';
import type { ComponentModule } from './component-types.js';
import type { ComponentResource } from '../resources/resources.js';
import { MetadataValidator, SchemaError } from './metadata-schema.js';
import { schemaChecks, SchemaTimeout } from './check-thread.js';
import type { Block } from './descriptor.js';
import { grantingMetadata } from '../capabilities/grants.js';
import { BLOCKS, perBlock } from '../building-blocks.js';

/**
 * Metadata keys the host interprets itself, per block (Dapr handles these in the runtime, not in the
 * component; `hostMetadata` of the building-block table). They are removed before the component's schema
 * sees the metadata.
 */
export const HOST_METADATA: Readonly<Record<Block, ReadonlySet<string>>> = perBlock((b) => new Set<string>(b.hostMetadata));

/**
 * How long a replaced version still takes calls after the swap: a request that looked the component up just
 * before the swap may reach it a moment later (a coalesced read waits an event-loop turn; a retry waits its
 * back-off), and must be served, not refused as unloaded.
 */
const SWAP_GRACE_MS = 1000;

/** A component in service: a named resource bound to a module and running in a pool. */
export interface ActiveComponent {
  readonly name: string;
  readonly resource: ComponentResource;
  readonly module: ComponentModule;
  readonly block: Block;
  readonly pool: InstancePool;
  /** Dapr feature names as reported by the metadata API. */
  readonly features: readonly string[];
  /** Host-interpreted metadata (keyPrefix, ...). */
  readonly hostMetadata: Readonly<Record<string, string>>;
  /** Identifies what is running: resource + module hash. A change means a new version. */
  readonly fingerprint: string;
  /** The host side of its imports; released when the component is retired. */
  readonly host: BridgeHost;
  /**
   * A pool of its own for long calls (a pub/sub `fetch` that blocks waiting for messages), so they never
   * hold up calls on `pool`. Started on first use, closed with the component. For a component that keeps
   * its data in its one instance (max-instances 1) this is `pool` itself. `lane` names one of several such
   * pools: `app` (the default) for the app's delivery loop and input bindings, `streams` for the
   * streaming subscriptions' loops (gRPC `SubscribeTopicEventsAlpha1`), so a client's streams never wait
   * behind the app loop's long polls, nor it behind theirs.
   */
  sidePool(lane?: SideLane): Promise<InstancePool>;
}

/** The side pools a component can have (see `ActiveComponent.sidePool`). */
export type SideLane = 'app' | 'streams';

export interface RegistryOptions {
  readonly appId: string;
  /** Where components' host imports are performed. */
  readonly capabilities: CapabilityHost;
  readonly logger: Logger;
  readonly poolSize: number;
  readonly callTimeoutMs: number;
  readonly memoryLimitBytes: number;
}

/** Fingerprint of a resource bound to a module: equal fingerprints need no reload. */
export function fingerprint(resource: ComponentResource, module: ComponentModule): string {
  const { file: _f, ...rest } = resource;
  return JSON.stringify([rest, module.artifact.hash]);
}

/**
 * The components in service, by name. `apply` brings a new version up beside the old one, checks it
 * (metadata, `init`, `ping`) and only then swaps it in; the old one finishes its in-flight calls and stops.
 * If the new version fails, the old one keeps serving.
 */
export class ComponentRegistry {
  readonly #active = new Map<string, ActiveComponent>();
  readonly #sidePools = new WeakMap<ActiveComponent, InstancePool[]>();
  readonly #opts: RegistryOptions;

  constructor(opts: RegistryOptions) {
    this.#opts = opts;
  }

  get(name: string): ActiveComponent | undefined {
    return this.#active.get(name);
  }
  list(): ActiveComponent[] {
    return [...this.#active.values()];
  }
  byBlock(block: Block): ActiveComponent[] {
    return this.list().filter((c) => c.block === block);
  }

  /** Brings `resource` into service on `module`. Throws a `MortarError` naming the file, field and reason. */
  async apply(resource: ComponentResource, module: ComponentModule): Promise<ActiveComponent> {
    const { logger } = this.#opts;
    const fp = fingerprint(resource, module);
    const current = this.#active.get(resource.name);
    if (current?.fingerprint === fp) return current;

    const hostKeys = HOST_METADATA[module.block];
    const hostMetadata: Record<string, string> = {};
    const componentMetadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(resource.metadata)) (hostKeys.has(k) ? hostMetadata : componentMetadata)[k] = v;
    const prefix = hostMetadata.keyPrefix;
    if (prefix?.includes('||')) {
      throw new MortarError('ERR_METADATA_INVALID', [resource.file, "field 'keyPrefix' can't contain '||'"]);
    }

    let validated: Record<string, string>;
    try {
      // A built-in's schema is mortar's own code (no unbounded pattern): it is checked in place, which spares a
      // start with the embedded defaults the check thread. Any other component's schema is checked off this thread.
      const r = module.builtin
        ? builtinValidator().validate(module.descriptor.metadataSchema, componentMetadata)
        : await schemaChecks.validate(module.descriptor.metadataSchema, componentMetadata);
      if (!r.ok) throw new MortarError('ERR_METADATA_INVALID', [resource.file, r.problems.join('; ')]);
      validated = r.value;
    } catch (err) {
      if (err instanceof SchemaError) throw new MortarError('ERR_WASM_INVALID', [module.file, `its metadata schema does not compile: ${err.message}`]);
      if (err instanceof SchemaTimeout) throw new MortarError('ERR_METADATA_INVALID', [resource.file, `${err.message}; the schema is ${module.file}'s`]);
      throw err;
    }

    // Grants come from what the resource says, never from the component's own schema defaults.
    const schema = module.descriptor.metadataSchema;
    const granting = grantingMetadata(JSON.parse(schema), componentMetadata, validated, module.builtin);
    for (const field of granting.ignored) {
      logger.warn(
        { component: resource.name, file: resource.file, field },
        `component ${resource.name}: '${field}' is not set in ${resource.file}; the default in ${module.file}'s schema grants no endpoint (only values written in the resource do)`,
      );
    }
    const host = this.#opts.capabilities.endpoint(resource.name, schema, granting.metadata, logger);
    const size = module.descriptor.maxInstances > 0 ? Math.min(module.descriptor.maxInstances, this.#opts.poolSize) : this.#opts.poolSize;
    const pairs = Object.entries(validated);
    const makePool = (poolSize: number, spares: boolean) =>
      new InstancePool({
        name: resource.name,
        artifact: module.artifact,
        size: poolSize,
        callTimeoutMs: this.#opts.callTimeoutMs,
        spares,
        memoryLimitBytes: this.#opts.memoryLimitBytes,
        host,
        grants: { schema, metadata: granting.metadata },
        logger,
        // Every instance is initialised and must answer ping before it serves a call.
        prepare: async (call) => {
          const lifecycle = new LifecycleClient({ call });
          try {
            await lifecycle.init(pairs);
            await lifecycle.ping();
          } catch (err) {
            // An init-error the component returned is about its metadata or backend: the YAML's problem. A
            // trap, a stray exception or a hang is the component's own fault, and is blamed on its file.
            if (err instanceof ComponentCallError) throw new MortarError('ERR_COMPONENT_INIT', [resource.file, describeError(err)]);
            throw new MortarError('ERR_COMPONENT_INIT_CRASHED', [module.file, resource.file, describeError(err)]);
          }
        },
      });
    // A component declaring max-instances 1 keeps its data in its one instance: no spare may stand in for it.
    const pool = makePool(size, module.descriptor.maxInstances !== 1);
    try {
      await pool.start();
    } catch (err) {
      await host.close();
      if (err instanceof MortarError) throw err;
      throw new MortarError('ERR_COMPONENT_INIT', [resource.file, describeError(err)]);
    }

    const features = [...module.descriptor.features.filter((f) => f !== 'FIRST_WRITE')];
    for (const [key, feature] of Object.entries(BLOCKS[module.block].metadataFeatures)) if (hostMetadata[key] === 'true') features.push(feature);
    const sides = new Map<SideLane, Promise<InstancePool>>();
    const sidePool = (lane: SideLane = 'app'): Promise<InstancePool> => {
      if (module.descriptor.maxInstances === 1) return Promise.resolve(pool);
      const side = sides.get(lane);
      if (side) return side;
      const attempt = (async () => {
        // Its calls wait on purpose (a fetch long-polls): waiting is not stalling.
        const p = makePool(1, false);
        await p.start();
        if (this.#active.get(resource.name) !== next) {
          await p.close(0);
          throw new MortarError('ERR_COMPONENT_UNAVAILABLE', [resource.name, 'it has been unloaded']);
        }
        this.#sidePools.set(next, [...(this.#sidePools.get(next) ?? []), p]);
        return p;
      })();
      // A side instance whose `init` failed (its broker was down) is not kept: the next caller, a
      // subscription retried with backoff, starts a new one.
      sides.set(lane, attempt);
      attempt.catch(() => {
        if (sides.get(lane) === attempt) sides.delete(lane);
      });
      return attempt;
    };
    const next: ActiveComponent = { name: resource.name, resource, module, block: module.block, pool, features, hostMetadata, fingerprint: fp, host, sidePool };
    this.#active.set(resource.name, next);
    logger.info(
      { component: resource.name, type: resource.type, file: resource.file, wasm: module.file, instances: size },
      `component ${resource.name} (${resource.type}) ${current ? 'reloaded' : 'loaded'} from ${resource.file}`,
    );
    if (current) void this.#retire(current, SWAP_GRACE_MS);
    return next;
  }

  /** Takes a component out of service; in-flight calls finish first. */
  async remove(name: string): Promise<void> {
    const current = this.#active.get(name);
    if (!current) return;
    this.#active.delete(name);
    this.#opts.logger.info({ component: name }, `component ${name} unloaded`);
    await this.#retire(current);
  }

  async close(): Promise<void> {
    const all = this.list();
    this.#active.clear();
    await Promise.all([...all.map((c) => this.#retire(c)), schemaChecks.close()]);
  }

  /** Closes a version taken out of service, after `graceMs` in which it still takes calls. */
  async #retire(c: ActiveComponent, graceMs = 0): Promise<void> {
    if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
    await c.pool.close();
    await Promise.all((this.#sidePools.get(c) ?? []).map((p) => p.close(0)));
    await c.host.close();
    // Release the compiled code once no component in service runs this artifact any more.
    if (!this.list().some((x) => x.module.artifact.dir === c.module.artifact.dir)) forgetModules(c.module.artifact.dir);
  }
}

export function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'error' in err) {
    const e = (err as { error: { tag?: string; val?: unknown } }).error;
    return e?.val !== undefined ? `${e.tag}: ${String(e.val)}` : String(e?.tag);
  }
  return err instanceof Error ? err.message : String(err);
}

let builtins: MetadataValidator | undefined;
/** The validator for built-in components' schemas, made on first use (it loads ajv). */
function builtinValidator(): MetadataValidator {
  return (builtins ??= new MetadataValidator());
}
