import { parseAllDocuments } from 'yaml';

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

/** A resource of a kind mortar recognises but does not act on yet (Subscription, Resiliency, ...). */
export interface OtherResource {
  readonly kind: string;
  readonly name: string;
  readonly file: string;
}

export type Resource = ComponentResource | OtherResource;

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
    const value = doc.toJS() as unknown;
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

class Problem extends Error {
  constructor(readonly field: string, reason: string) { super(reason); }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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
    if (item.secretKeyRef !== undefined) throw new Problem(`${at}.secretKeyRef`, 'secret references need a secret store, which this sidecar does not offer yet');
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
