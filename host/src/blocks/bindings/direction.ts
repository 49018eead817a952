/**
 * Which way a binding works, as daprd reads it (`pkg/runtime/processor/binding`): the component metadata
 * `direction` (name matched case-insensitively) is a comma-separated list of `input` and `output`; absent,
 * the binding works both ways its component can. A component exporting only one half works only that way.
 */
import type { ActiveComponent } from '../../components/registry.js';
import { BindingClient } from './binding-client.js';

/** The metadata key daprd reads. */
export const DIRECTION = 'direction';

/** The directions listed in `direction`, lower-cased; undefined when the metadata has no such key. */
export function listedDirections(metadata: Readonly<Record<string, string>>): Set<string> | undefined {
  let found: Set<string> | undefined;
  for (const [k, v] of Object.entries(metadata)) {
    if (k.toLowerCase() !== DIRECTION) continue;
    found ??= new Set();
    for (const d of v.split(',')) found.add(d.trim().toLowerCase());
  }
  return found;
}

/** Whether `c` serves `way`: its component exports that half, and `direction` is absent or lists it. */
export function servesDirection(c: ActiveComponent, way: 'input' | 'output'): boolean {
  if (c.block !== 'bindings') return false;
  const client = BindingClient.of(c);
  if (way === 'input' ? !client.isInput : !client.isOutput) return false;
  const listed = listedDirections(c.resource.metadata);
  return listed === undefined || listed.has(way);
}

/** `direction` lists `input` explicitly: daprd then sends no OPTIONS probe before reading. */
export function explicitlyInput(c: ActiveComponent): boolean {
  return listedDirections(c.resource.metadata)?.has('input') === true;
}

/** The metadata API's capabilities of a binding, in daprd's order: `INPUT_BINDING`, then `OUTPUT_BINDING`. */
export function bindingCapabilities(c: ActiveComponent): string[] {
  const caps: string[] = [];
  if (servesDirection(c, 'input')) caps.push('INPUT_BINDING');
  if (servesDirection(c, 'output')) caps.push('OUTPUT_BINDING');
  return caps;
}
