import { parseAllDocuments } from 'yaml';
import { Problem, isObject } from './resource-problem.js';
import { toResiliency, type ResiliencyResource } from './resiliency-resource.js';
import { MAX_YAML_ALIASES } from './resource-limits.js';

/** A Dapr `Component` resource, as read from YAML, with metadata values as strings (as Dapr passes them). */
export interface ComponentResource {
  readonly kind: 'Component';
  readonly name: string;
  readonly type: string;
  readonly version: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly scopes: readonly string[];
  readonly ignoreErrors: boolean;
  /** File it came from, for error messages. */
  readonly file: string;
}

/** A declarative `Subscription` (dapr.io/v1alpha1 or v2alpha1), normalised to the v2alpha1 shape. */
export interface SubscriptionResource {
  readonly kind: 'Subscription';
  readonly name: string;
  readonly pubsubname: string;
  readonly topic: string;
  readonly rules: ReadonlyArray<{ readonly match: string; readonly path: string }>;
  readonly defaultPath?: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly deadLetterTopic?: string;
  readonly bulkSubscribe?: { readonly enabled: boolean; readonly maxMessagesCount?: number; readonly maxAwaitDurationMs?: number };
  readonly scopes: readonly string[];
  readonly file: string;
}

export type { ResiliencyResource } from './resiliency-resource.js';

/** A resource of a kind mortar recognises but does not act on yet (Configuration, HTTPEndpoint). */
export interface OtherResource {
  readonly kind: string;
  readonly name: string;
  readonly file: string;
}

export type Resource = ComponentResource | SubscriptionResource | ResiliencyResource | OtherResource;

/** A refused document: the file, the field path and the reason, for one log line. */
export interface ResourceProblem {
  readonly file: string;
  readonly field: string;
  readonly reason: string;
}

export const KNOWN_KINDS = new Set(['Component', 'Subscription', 'Resiliency', 'Configuration', 'HTTPEndpoint']);

/** Parses every YAML document of `text`. Good documents come back as resources, bad ones as problems. */
export function parseResources(file: string, text: string): { resources: Resource[]; problems: ResourceProblem[] } {
  const resources: Resource[] = [];
  const problems: ResourceProblem[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const where = list.length > 1 ? `${file}#${i + 1}` : file;
    if (doc.errors.length > 0) {
      problems.push({ file: where, field: '(yaml)', reason: doc.errors[0]!.message.split('\n')[0]! });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      // The yaml package throws a ReferenceError for an alias bomb ("excessive alias count").
      problems.push({ file: where, field: '(yaml)', reason: `${(err as Error).message} (at most ${MAX_YAML_ALIASES} aliases are resolved per document)` });
      return;
    }
    if (value === null || value === undefined) return; // empty document
    try {
      resources.push(toResource(where, value));
    } catch (err) {
      if (err instanceof Problem) problems.push({ file: where, field: err.field, reason: err.message });
      else throw err;
    }
  });
  return { resources, problems };
}

function toResource(file: string, doc: unknown): Resource {
  if (!isObject(doc)) throw new Problem('(document)', 'must be a mapping with apiVersion, kind, metadata and spec');
  const kind = doc.kind;
  if (typeof kind !== 'string') throw new Problem('kind', 'is required');
  if (!KNOWN_KINDS.has(kind)) throw new Problem('kind', `'${kind}' is not one of ${[...KNOWN_KINDS].join(', ')}`);
  const apiVersion = doc.apiVersion;
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith('dapr.io/')) {
    throw new Problem('apiVersion', `must be dapr.io/v1alpha1 (or v2alpha1 for Subscription), got ${JSON.stringify(apiVersion)}`);
  }
  const meta = doc.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || meta.name === '') throw new Problem('metadata.name', 'is required');
  const name = meta.name;
  if (kind === 'Subscription') return toSubscription(file, name, doc);
  if (kind === 'Resiliency') return toResiliency(file, name, doc);
  if (kind !== 'Component') return { kind, name, file };

  const spec = doc.spec;
  if (!isObject(spec)) throw new Problem('spec', 'is required');
  if (typeof spec.type !== 'string' || !/^[a-z0-9]+\.[A-Za-z0-9._-]+$/.test(spec.type)) {
    throw new Problem('spec.type', `must be '<block>.<implementation>' such as state.redis, got ${JSON.stringify(spec.type)}`);
  }
  const version = spec.version === undefined ? 'v1' : String(spec.version);
  const metadata: Record<string, string> = {};
  const items = spec.metadata ?? [];
  if (!Array.isArray(items)) throw new Problem('spec.metadata', 'must be a list of {name, value}');
  items.forEach((item: unknown, i: number) => {
    const at = `spec.metadata[${i}]`;
    if (!isObject(item) || typeof item.name !== 'string' || item.name === '') throw new Problem(`${at}.name`, 'is required');
    if (item.secretKeyRef !== undefined)
      throw new Problem(`${at}.secretKeyRef`, 'secret references need a secret store, which this sidecar does not offer yet');
    if (item.envRef !== undefined) {
      throw new Problem(`${at}.envRef`, 'environment references are not supported: components get no ambient environment');
    }
    const v = item.value;
    metadata[item.name] = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
  const scopes = doc.scopes ?? [];
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string')) throw new Problem('scopes', 'must be a list of app ids');
  const ignoreErrors = spec.ignoreErrors === true || spec.ignoreErrors === 'true';
  return { kind: 'Component', name, type: spec.type, version, metadata, scopes: scopes as string[], ignoreErrors, file };
}

function toSubscription(file: string, name: string, doc: Record<string, unknown>): SubscriptionResource {
  const spec = doc.spec;
  if (!isObject(spec)) throw new Problem('spec', 'is required');
  const str = (v: unknown, field: string, required: boolean): string | undefined => {
    if (v === undefined || v === null || v === '') {
      if (required) throw new Problem(field, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') throw new Problem(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  const pubsubname = str(spec.pubsubname, 'spec.pubsubname', true)!;
  const topic = str(spec.topic, 'spec.topic', true)!;
  const rules: Array<{ match: string; path: string }> = [];
  let defaultPath = str(spec.route, 'spec.route', false);
  if (spec.routes !== undefined && spec.routes !== null) {
    if (!isObject(spec.routes)) throw new Problem('spec.routes', 'must be a mapping with rules and default');
    const r = spec.routes;
    defaultPath = str(r.default, 'spec.routes.default', false) ?? defaultPath;
    const list = r.rules ?? [];
    if (!Array.isArray(list)) throw new Problem('spec.routes.rules', 'must be a list of {match, path}');
    list.forEach((rule: unknown, i: number) => {
      const at = `spec.routes.rules[${i}]`;
      if (!isObject(rule)) throw new Problem(at, 'must be a mapping with match and path');
      rules.push({ match: str(rule.match, `${at}.match`, false) ?? '', path: str(rule.path, `${at}.path`, true)! });
    });
  }
  if (rules.length === 0 && defaultPath === undefined) throw new Problem('spec.routes', 'needs a default route or at least one rule (v1alpha1: spec.route)');
  const metadata: Record<string, string> = {};
  if (spec.metadata !== undefined && spec.metadata !== null) {
    if (!isObject(spec.metadata)) throw new Problem('spec.metadata', 'must be a mapping of strings');
    for (const [k, v] of Object.entries(spec.metadata)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  let bulkSubscribe: SubscriptionResource['bulkSubscribe'];
  if (spec.bulkSubscribe !== undefined && spec.bulkSubscribe !== null) {
    if (!isObject(spec.bulkSubscribe)) throw new Problem('spec.bulkSubscribe', 'must be a mapping');
    const b = spec.bulkSubscribe;
    const num = (v: unknown, field: string): number | undefined => {
      if (v === undefined || v === null) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Problem(field, `must be a positive integer, got ${JSON.stringify(v)}`);
      return n;
    };
    bulkSubscribe = {
      enabled: b.enabled === true || b.enabled === 'true',
      maxMessagesCount: num(b.maxMessagesCount, 'spec.bulkSubscribe.maxMessagesCount'),
      maxAwaitDurationMs: num(b.maxAwaitDurationMs, 'spec.bulkSubscribe.maxAwaitDurationMs'),
    };
  }
  const scopes = doc.scopes ?? [];
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string')) throw new Problem('scopes', 'must be a list of app ids');
  return {
    kind: 'Subscription',
    name,
    pubsubname,
    topic,
    rules,
    defaultPath,
    metadata,
    deadLetterTopic: str(spec.deadLetterTopic, 'spec.deadLetterTopic', false),
    bulkSubscribe,
    scopes: scopes as string[],
    file,
  };
}
