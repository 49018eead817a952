/**
 * What a component may reach, derived from its metadata and the schema it declares.
 *
 * A schema property annotated `"x-mortar-grant": "<capability>"` names an endpoint: the property's value
 * (after defaults) is granted for that capability, and nothing else is. Grants are checked on the main
 * thread, where the I/O happens, never in the sandbox.
 */

export type GrantKind = 'redis' | 'sql:postgres' | 'sql:mysql' | 'sql:sqlite';
export const GRANT_KINDS: readonly GrantKind[] = ['redis', 'sql:postgres', 'sql:mysql', 'sql:sqlite'];

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
      // Redis accepts a comma-separated list of hosts (failover / cluster); grant each.
      for (const v of kind === 'redis' ? value.split(',') : [value]) grants.add(kind as GrantKind, v.trim());
    }
  }
  return grants;
}

/** `host:port` for Redis (default port 6379, scheme and credentials dropped); other kinds verbatim. */
export function normalise(kind: GrantKind, value: string): string {
  if (kind !== 'redis') return value.trim();
  let v = value.trim().replace(/^rediss?:\/\//, '');
  v = v.replace(/^[^@/]*@/, '').replace(/\/.*$/, '');
  if (!/:\d+$/.test(v)) v = `${v}:6379`;
  return v.toLowerCase();
}
