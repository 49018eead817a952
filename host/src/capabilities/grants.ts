/**
 * What a component may reach, derived from its metadata and the schema it declares.
 *
 * A schema property annotated `"x-mortar-grant": "<capability>"` names an endpoint: the property's value
 * (after defaults) is granted for that capability, and nothing else is. Grants are checked on the main
 * thread, where the I/O happens, never in the sandbox.
 */

export type GrantKind = 'redis' | 'sql:postgres' | 'sql:mysql' | 'sql:sqlite' | 'amqp' | 'mqtt' | 'nats';
export const GRANT_KINDS: readonly GrantKind[] = ['redis', 'sql:postgres', 'sql:mysql', 'sql:sqlite', 'amqp', 'mqtt', 'nats'];

/** Kinds whose grant value may list several endpoints, comma-separated (failover or cluster seeds). */
const LISTS: ReadonlySet<GrantKind> = new Set(['redis', 'nats']);

/** Default port per URL scheme, for the kinds compared by `host:port`. */
export const DEFAULT_PORTS: Readonly<Record<string, Record<string, number>>> = {
  redis: { '': 6379, redis: 6379, rediss: 6379 },
  amqp: { '': 5672, amqp: 5672, amqps: 5671 },
  mqtt: { '': 1883, tcp: 1883, mqtt: 1883, ssl: 8883, mqtts: 8883, tls: 8883, ws: 80, wss: 443 },
  nats: { '': 4222, nats: 4222, tls: 4222 },
};

export class Grants {
  readonly #allowed = new Map<GrantKind, Set<string>>();

  /** Adds `value` for `kind`; values are normalised so `redis://h:6379` and `h` compare equal. */
  add(kind: GrantKind, value: string): void {
    let set = this.#allowed.get(kind);
    if (!set) this.#allowed.set(kind, (set = new Set()));
    set.add(normalise(kind, value));
  }

  allows(kind: GrantKind, value: string): boolean {
    return this.#allowed.get(kind)?.has(normalise(kind, value)) ?? false;
  }
}

/** Builds grants from a JSON Schema's annotated properties and the (defaulted) metadata values. */
export function grantsFromSchema(schema: unknown, metadata: Readonly<Record<string, string>>): Grants {
  const grants = new Grants();
  const props = (schema as { properties?: Record<string, Record<string, unknown>> })?.properties ?? {};
  for (const [name, prop] of Object.entries(props)) {
    const kind = prop?.['x-mortar-grant'];
    const value = metadata[name];
    if (typeof kind === 'string' && (GRANT_KINDS as readonly string[]).includes(kind) && typeof value === 'string' && value !== '') {
      for (const v of LISTS.has(kind as GrantKind) ? value.split(',') : [value]) grants.add(kind as GrantKind, v.trim());
    }
  }
  return grants;
}

/**
 * `host:port` for the network kinds (scheme, credentials and path dropped; the scheme's default port
 * added), so `amqp://guest:guest@Host/vhost` and `host:5672` compare equal; SQL addresses verbatim.
 */
export function normalise(kind: GrantKind, value: string): string {
  const ports = DEFAULT_PORTS[kind];
  if (!ports) return value.trim();
  return endpointOf(value, ports).toLowerCase();
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
