/**
 * What a component may reach, derived from its metadata and the schema it declares.
 *
 * A schema property annotated `"x-mortar-grant": "<capability>"` names an endpoint: the value the user
 * wrote for that property in the resource is granted for that capability, and nothing else is. A schema
 * `default` never grants (see `grantingMetadata`). Grants are checked where the I/O happens (the capability
 * thread), never in the sandbox.
 *
 * How a kind's values compare (`normalise`): the network kinds by `host:port`; `http` by origin (scheme, host
 * and port, the scheme's default port added: `http://Api.local/v1` grants `http://api.local:80`); `directory` by
 * absolute path, a relative one taken from the sidecar's working directory; SQL addresses verbatim.
 */
import { isAbsolute, resolve } from 'node:path';

/** What a granted value is for: a `mortar:host` capability (SQL by dialect). */
export type GrantKind = 'redis' | 'sql:postgres' | 'sql:mysql' | 'sql:sqlite' | 'amqp' | 'mqtt' | 'nats' | 'http' | 'directory';
/** Every grant kind, as a schema's `x-mortar-grant` names it (another name grants nothing). */
export const GRANT_KINDS: readonly GrantKind[] = ['redis', 'sql:postgres', 'sql:mysql', 'sql:sqlite', 'amqp', 'mqtt', 'nats', 'http', 'directory'];

/** Kinds whose grant value may list several endpoints, comma-separated (failover or cluster seeds). */
const LISTS: ReadonlySet<GrantKind> = new Set(['redis', 'nats']);

/** Default port per URL scheme, for the kinds compared by `host:port`. */
export const DEFAULT_PORTS: Readonly<Record<string, Record<string, number>>> = {
  redis: { '': 6379, redis: 6379, rediss: 6379 },
  amqp: { '': 5672, amqp: 5672, amqps: 5671 },
  mqtt: { '': 1883, tcp: 1883, mqtt: 1883, ssl: 8883, mqtts: 8883, tls: 8883, ws: 80, wss: 443 },
  nats: { '': 4222, nats: 4222, tls: 4222 },
};

/** The endpoints one component may reach, by kind. */
export class Grants {
  readonly #allowed = new Map<GrantKind, Set<string>>();

  /**
   * Adds `value` for `kind`; values are normalised so `redis://h:6379` and `h` compare equal. A value that
   * names no endpoint of its kind (`ftp://x` for `http`) grants nothing.
   */
  add(kind: GrantKind, value: string): void {
    const v = normalise(kind, value);
    if (v === undefined) return;
    let set = this.#allowed.get(kind);
    if (!set) this.#allowed.set(kind, (set = new Set()));
    set.add(v);
  }

  /** Whether `value` names an endpoint granted for `kind`. */
  allows(kind: GrantKind, value: string): boolean {
    const v = normalise(kind, value);
    return v !== undefined && (this.#allowed.get(kind)?.has(v) ?? false);
  }
}

/**
 * The metadata grants may be taken from: the properties the user wrote in the resource (`written`, before
 * the schema's defaults), with the values the component receives for them (`validated`, after coercion).
 *
 * Why not the defaulted metadata: a component writes its own schema, so a `default` on an annotated
 * property would let it grant itself any endpoint with an empty YAML. The one exception is a built-in
 * component (`trustDefaults`): its schema is mortar's own code, and its defaults (`state.sqlite`'s
 * `connectionString: state.db`) grant as if written. `ignored` names the annotated properties whose value
 * came only from a default and grants nothing, for the log.
 */
export function grantingMetadata(
  schema: unknown,
  written: Readonly<Record<string, string>>,
  validated: Readonly<Record<string, string>>,
  trustDefaults: boolean,
): { metadata: Record<string, string>; ignored: string[] } {
  if (trustDefaults) return { metadata: { ...validated }, ignored: [] };
  const metadata: Record<string, string> = {};
  for (const k of Object.keys(written)) if (validated[k] !== undefined) metadata[k] = validated[k];
  const ignored = Object.entries(annotated(schema))
    .filter(([name]) => !(name in written) && (validated[name] ?? '') !== '')
    .map(([name]) => name);
  return { metadata, ignored };
}

/** The schema's properties annotated with a known grant kind, by name. */
function annotated(schema: unknown): Record<string, GrantKind> {
  const out: Record<string, GrantKind> = {};
  const props = (schema as { properties?: Record<string, Record<string, unknown>> })?.properties ?? {};
  for (const [name, prop] of Object.entries(props)) {
    const kind = prop?.['x-mortar-grant'];
    if (typeof kind === 'string' && (GRANT_KINDS as readonly string[]).includes(kind)) out[name] = kind as GrantKind;
  }
  return out;
}

/** Builds grants from a JSON Schema's annotated properties and the granting metadata (see `grantingMetadata`). */
export function grantsFromSchema(schema: unknown, metadata: Readonly<Record<string, string>>): Grants {
  const grants = new Grants();
  for (const [name, kind] of Object.entries(annotated(schema))) {
    const value = metadata[name];
    if (typeof value === 'string' && value !== '') {
      for (const v of LISTS.has(kind) ? value.split(',') : [value]) grants.add(kind, v.trim());
    }
  }
  return grants;
}

/**
 * `host:port` for the network kinds (scheme, credentials and path dropped; the scheme's default port
 * added), so `amqp://guest:guest@Host/vhost` and `host:5672` compare equal; the origin for `http`
 * (`originOf`); the absolute path for `directory` (`directoryOf`); SQL addresses verbatim. `undefined`: the
 * value names no endpoint of its kind (it is never granted).
 */
export function normalise(kind: GrantKind, value: string): string | undefined {
  if (kind === 'http') return originOf(value);
  if (kind === 'directory') return directoryOf(value);
  const ports = DEFAULT_PORTS[kind];
  if (!ports) return value.trim();
  return endpointOf(value, ports).toLowerCase();
}

/**
 * The origin of an `http:` or `https:` URL, `scheme://host:port` with the scheme's default port (80, 443)
 * written out and the host in lower case: `HTTPS://Api.Example.com/v1?q` is `https://api.example.com:443`.
 * `undefined` for anything else (another scheme, no URL at all).
 */
export function originOf(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.hostname === '') return undefined;
  return `${u.protocol}//${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/**
 * A granted directory as an absolute, normalised path (no `.`/`..` segments, no trailing `/`); a relative
 * value is taken from the sidecar's working directory. `undefined` for an empty value or one with a NUL.
 */
export function directoryOf(path: string): string | undefined {
  const p = path.trim();
  if (p === '' || p.includes('\0')) return undefined;
  return isAbsolute(p) ? resolve(p) : resolve(process.cwd(), p);
}

/** `host:port` of a URL or bare address, with the scheme's default port when none is given. */
export function endpointOf(value: string, ports: Readonly<Record<string, number>>): string {
  let v = value.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v);
  v = v.slice(scheme ? scheme[0].length : 0);
  v = v.replace(/[/?#].*$/, '').replace(/^.*@/, '');
  if (!/:\d+$/.test(v)) v = `${v}:${ports[scheme?.[1]?.toLowerCase() ?? ''] ?? ports[''] ?? 0}`;
  return v;
}
