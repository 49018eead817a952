import type { Descriptor as WitDescriptor } from '../../generated/interfaces/mortar-component-types.js';
import type { BlockId } from '../building-blocks.js';

/** What a component declared about itself (`mortar:component/types.descriptor`, as generated from the WIT). */
export type Descriptor = Readonly<WitDescriptor>;

/** The building block a component serves, inferred from its exports (a row of `building-blocks.ts`). */
export type Block = BlockId;

/** Checks the shape of a descriptor returned by a guest; returns a reason when it is not usable. */
export function checkDescriptor(d: unknown): string | undefined {
  const x = d as Partial<Descriptor> | undefined;
  if (!x || !Array.isArray(x.types) || x.types.length === 0) return 'describe() returned no types';
  if (x.types.some((t) => typeof t !== 'string' || !/^[a-z0-9]+\.[A-Za-z0-9._-]+$/.test(t)))
    return `describe() returned an invalid type name in ${JSON.stringify(x.types)}`;
  if (typeof x.metadataSchema !== 'string') return 'describe() returned no metadata schema';
  try {
    const s = JSON.parse(x.metadataSchema) as unknown;
    if (typeof s !== 'object' || s === null) return 'metadata schema is not a JSON object';
  } catch (err) {
    return `metadata schema is not JSON: ${(err as Error).message}`;
  }
  return undefined;
}
