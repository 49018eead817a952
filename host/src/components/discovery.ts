import { open, readdir, stat } from 'node:fs/promises';
import { dirname, join, extname } from 'node:path';
import { MortarError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ComponentLoader, ComponentModule } from './component-types.js';
import type { ComponentRegistry } from './registry.js';
import { fingerprint } from './registry.js';
import { unknownTypeParts } from './closest-type.js';
import { MAX_RESOURCE_FILE_BYTES } from '../resources/resource-limits.js';
import { yamlParser, type ParseResult } from './check-thread.js';
import type { ComponentResource, ResiliencyResource, Resource, SubscriptionResource } from '../resources/resources.js';

const YAML = new Set(['.yaml', '.yml']);

export interface DiscoveryOptions {
  /** Folders holding built-in `.wasm` components (always loaded, never watched for YAML). */
  readonly builtinDirs: readonly string[];
  /** `--resources-path` folders: YAML resources and user `.wasm` components, watched. */
  readonly resourcePaths: readonly string[];
  /** Resources used when no resources path is given. */
  readonly defaults: readonly ComponentResource[];
  readonly appId: string;
  readonly pollMs: number;
  /** Told the declarative subscriptions (scoped to this app) after every scan. */
  readonly onSubscriptions?: (subs: SubscriptionResource[]) => void;
  /** Told every Resiliency resource in force after every scan (before components are reconciled). */
  readonly onResiliency?: (resources: ResiliencyResource[]) => void;
}

/**
 * Finds components and resources in folders and keeps the registry in step with them.
 *
 * Folders are polled (stat only) every `pollMs`; on any change every file is re-read and the desired set
 * of components is reconciled with what runs. Polling, rather than inotify alone, also catches the
 * symlink swaps Kubernetes uses to update mounted ConfigMaps. A file that fails to parse is refused with
 * one log line and its last good content stays in force; the rest keeps serving.
 */
export class Discovery {
  readonly #opts: DiscoveryOptions;
  readonly #modules = new Map<string, ComponentModule>();
  readonly #moduleStamps = new Map<string, string>();
  readonly #yaml = new Map<string, { stamp: string; resources: Resource[] }>();
  #snapshot = '';
  /** Components whose last attempt failed, by name -> fingerprint: not retried until something changes. */
  readonly #failed = new Map<string, string>();
  #timer?: NodeJS.Timeout;
  #running: Promise<void> = Promise.resolve();

  constructor(
    opts: DiscoveryOptions,
    readonly loader: ComponentLoader,
    readonly registry: ComponentRegistry,
    readonly logger: Logger,
  ) {
    this.#opts = opts;
  }

  /** Loads everything once, then starts polling. */
  async start(): Promise<void> {
    // YAML is parsed on a thread of its own: let it start while the modules load (when there is YAML to parse).
    if (this.#opts.resourcePaths.length > 0) yamlParser.warm();
    await this.rescan();
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.#poll());
    }, this.#opts.pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
    await yamlParser.close();
  }

  /** The loaded modules (for a type served by several, `#moduleFor` prefers a user's over a built-in). */
  modules(): ComponentModule[] {
    return [...this.#modules.values()];
  }

  async #poll(): Promise<void> {
    try {
      const snap = await this.#stampAll();
      if (snap !== this.#snapshot) await this.rescan();
    } catch (err) {
      this.logger.error({ err: String(err) }, 'resource scan failed');
    }
  }

  async #list(dir: string): Promise<string[]> {
    try {
      const names = await readdir(dir);
      return names
        .filter((n) => !n.startsWith('.'))
        .map((n) => join(dir, n))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async #stamp(file: string): Promise<string | undefined> {
    try {
      const s = await stat(file);
      return s.isFile() ? `${s.size}:${s.mtimeMs}:${s.ino}` : undefined;
    } catch {
      return undefined;
    }
  }

  async #files(): Promise<{ wasm: Array<[string, boolean]>; yaml: string[] }> {
    const wasm: Array<[string, boolean]> = [];
    const yaml: string[] = [];
    for (const dir of this.#opts.builtinDirs) for (const f of await this.#list(dir)) if (extname(f) === '.wasm') wasm.push([f, true]);
    for (const dir of this.#opts.resourcePaths) {
      for (const f of await this.#list(dir)) {
        if (extname(f) === '.wasm') wasm.push([f, false]);
        else if (YAML.has(extname(f))) yaml.push(f);
      }
    }
    return { wasm, yaml };
  }

  async #stampAll(): Promise<string> {
    const { wasm, yaml } = await this.#files();
    const parts: string[] = [];
    for (const [f] of wasm) parts.push(`${f}=${await this.#stamp(f)}`);
    for (const f of yaml) parts.push(`${f}=${await this.#stamp(f)}`);
    return parts.join('\n');
  }

  /** Re-reads every folder and reconciles. Safe to call at any time; calls are serialised by the poller. */
  async rescan(): Promise<void> {
    this.#snapshot = await this.#stampAll();
    const { wasm, yaml } = await this.#files();

    // 1. Modules: load new or changed .wasm files; a broken file keeps its previous good version.
    const seen = new Set<string>();
    const builtins: ComponentModule[] = [];
    await Promise.all(
      wasm.map(async ([file, builtin]) => {
        seen.add(file);
        const stamp = await this.#stamp(file);
        if (stamp === undefined || this.#moduleStamps.get(file) === stamp) return;
        this.#moduleStamps.set(file, stamp);
        try {
          const mod = await this.loader.load(file, builtin);
          this.#modules.set(file, mod);
          if (builtin) builtins.push(mod);
          else {
            this.logger.info(
              { wasm: file, types: mod.descriptor.types, version: mod.descriptor.version, origin: mod.artifact.origin },
              `loaded component ${mod.descriptor.types.join(', ')} ${mod.descriptor.version} from ${file}`,
            );
          }
        } catch (err) {
          this.#refuse(file, err);
        }
      }),
    );
    if (builtins.length > 0) logBuiltins(this.logger, builtins);
    for (const file of [...this.#modules.keys()]) {
      if (!seen.has(file)) {
        this.#modules.delete(file);
        this.#moduleStamps.delete(file);
        this.logger.info({ wasm: file }, `component file ${file} removed`);
      }
    }

    // 2. Resources: parse YAML files; a file with problems keeps its last good resources.
    const present = new Set(yaml);
    for (const file of [...this.#yaml.keys()]) if (!present.has(file)) this.#yaml.delete(file);
    for (const file of yaml) {
      const stamp = await this.#stamp(file);
      if (stamp === undefined || this.#yaml.get(file)?.stamp === stamp) continue;
      let parsed: ParseResult;
      try {
        const text = await readBounded(file, MAX_RESOURCE_FILE_BYTES);
        // A file that served resources and reads empty is being rewritten (truncated, then written): its
        // resources stay until it has content again, and it is read again at the next poll (no stamp kept).
        // Deleting the file is what removes them.
        if (text.trim() === '' && (this.#yaml.get(file)?.resources.length ?? 0) > 0) {
          this.#snapshot = '';
          continue;
        }
        parsed = await yamlParser.parse(file, text);
      } catch (err) {
        // Refused alone: one bad file never stops the rest of the folder from loading.
        this.#refuse(file, err);
        this.#yaml.set(file, { stamp, resources: this.#yaml.get(file)?.resources ?? [] });
        continue;
      }
      const { resources, problems } = parsed;
      for (const p of problems) {
        this.logger.error({ file: p.file, field: p.field, reason: p.reason }, `refused ${p.file}: ${p.field}: ${p.reason}`);
      }
      if (problems.length > 0 && resources.length === 0 && this.#yaml.has(file)) {
        this.#yaml.set(file, { stamp, resources: this.#yaml.get(file)!.resources });
        continue;
      }
      this.#yaml.set(file, { stamp, resources });
    }

    const all = this.#opts.resourcePaths.length === 0 ? [...this.#opts.defaults] : [...this.#yaml.values()].flatMap((v) => v.resources);
    const desired = new Map<string, ComponentResource>();
    const subscriptions: SubscriptionResource[] = [];
    const resiliency: ResiliencyResource[] = [];
    for (const r of all) {
      if (r.kind === 'Resiliency') {
        resiliency.push(r as ResiliencyResource);
        continue;
      }
      if (r.kind === 'Subscription') {
        const sub = r as SubscriptionResource;
        if (sub.scopes.length > 0 && !sub.scopes.includes(this.#opts.appId)) continue;
        subscriptions.push(sub);
        continue;
      }
      if (r.kind !== 'Component') {
        this.logger.debug({ file: r.file, kind: r.kind, name: r.name }, `${r.kind} ${r.name} in ${r.file} accepted; not acted on yet`);
        continue;
      }
      const c = r as ComponentResource;
      if (c.scopes.length > 0 && !c.scopes.includes(this.#opts.appId)) {
        this.logger.debug({ component: c.name }, `component ${c.name} is scoped to ${c.scopes.join(', ')}; skipped for ${this.#opts.appId}`);
        continue;
      }
      const dup = desired.get(c.name);
      if (dup) {
        this.logger.error(
          { file: c.file, field: 'metadata.name', reason: `duplicate of ${dup.file}` },
          `refused ${c.file}: metadata.name: component '${c.name}' is already defined in ${dup.file}`,
        );
        continue;
      }
      desired.set(c.name, c);
    }

    this.#opts.onResiliency?.(resiliency);

    // 3. Reconcile: remove what is gone, bring up what is new or changed.
    for (const active of this.registry.list()) {
      if (!desired.has(active.name)) await this.registry.remove(active.name);
    }
    await Promise.all(
      [...desired.values()].map(async (res) => {
        const mod = this.#moduleFor(res.type);
        if (!mod) {
          const types = [...new Set(this.modules().flatMap((m) => m.descriptor.types))].sort();
          const known = types.join(', ');
          const key = `unknown-type:${JSON.stringify(res)}:${known}`;
          if (this.#failed.get(res.name) !== key) {
            this.#failed.set(res.name, key);
            const { shown, closest } = unknownTypeParts(res.type, types);
            this.#refuse(res.file, new MortarError('ERR_COMPONENT_TYPE_UNKNOWN', [res.file, shown, closest, known]), 'spec.type');
          }
          if (this.registry.get(res.name) && !this.#moduleFor(this.registry.get(res.name)!.resource.type)) await this.registry.remove(res.name);
          return;
        }
        const fp = fingerprint(res, mod);
        if (this.registry.get(res.name)?.fingerprint === fp || this.#failed.get(res.name) === fp) return;
        try {
          await this.registry.apply(res, mod);
          this.#failed.delete(res.name);
        } catch (err) {
          this.#failed.set(res.name, fp);
          // A crash in init is the component's fault: the refusal names its .wasm, not the YAML.
          const crashed = err instanceof MortarError && err.code === 'ERR_COMPONENT_INIT_CRASHED';
          this.#refuse(crashed ? mod.file : res.file, err, crashed ? 'lifecycle.init' : 'spec.metadata');
          if (res.ignoreErrors) this.logger.warn({ component: res.name }, `component ${res.name} failed but has ignoreErrors: continuing`);
        }
      }),
    );

    // 4. Declarative subscriptions, now that the components they name are in service (the listener also
    // rebinds delivery to components that were reloaded).
    this.#opts.onSubscriptions?.(subscriptions);
  }

  #moduleFor(type: string): ComponentModule | undefined {
    let found: ComponentModule | undefined;
    for (const m of this.#modules.values()) {
      if (!m.descriptor.types.includes(type)) continue;
      if (!found || (found.builtin && !m.builtin)) found = m;
    }
    return found;
  }

  #refuse(file: string, err: unknown, field = '(file)'): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.logger.error({ file, field, reason }, reason.startsWith(file) ? `refused ${reason}` : `refused ${file}: ${reason}`);
  }
}

/** The built-ins loaded by one scan, in one line: how many, which types, and whether they came prebuilt. */
function logBuiltins(logger: Logger, mods: ComponentModule[]): void {
  mods.sort((a, b) => a.file.localeCompare(b.file));
  const origins = new Map<string, number>();
  for (const m of mods) origins.set(m.artifact.origin, (origins.get(m.artifact.origin) ?? 0) + 1);
  const how = [...origins].map(([origin, n]) => `${n} ${origin}`).join(', ');
  const list = mods
    .map((m) => {
      const [type, ...aliases] = m.descriptor.types;
      return `${type} ${m.descriptor.version}${aliases.length ? ` (also ${aliases.join(', ')})` : ''}`;
    })
    .join(', ');
  // The fields hold only what the message says, so a text line does not repeat it (logger.ts textLine).
  const dir = dirname(mods[0]!.file);
  logger.info({ dir, builtins: mods.flatMap((m) => m.descriptor.types) }, `loaded ${mods.length} built-in components (${how}) from ${dir}: ${list}`);
}

/**
 * The text of `file` when it is at most `limit` bytes; refused by its size otherwise, before it is read
 * whole or parsed (at most `limit + 1` bytes are read, so a file growing meanwhile is caught too).
 */
async function readBounded(file: string, limit: number): Promise<string> {
  const tooBig = (size: string) => new Error(`${file}: the file is ${size}; a resource file may be at most ${limit} bytes`);
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size > limit) throw tooBig(`${size} bytes`);
    const buf = Buffer.alloc(limit + 1);
    let n = 0;
    for (let r; n < buf.length && (r = await fh.read(buf, n, buf.length - n, n)).bytesRead > 0; ) n += r.bytesRead;
    if (n > limit) throw tooBig(`over ${limit} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await fh.close();
  }
}
